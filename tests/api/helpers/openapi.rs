//! The committed OpenAPI document.

pub fn committed_spec() -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("api-spec/openapi.json");
    std::fs::read_to_string(&path).unwrap_or_default()
}
