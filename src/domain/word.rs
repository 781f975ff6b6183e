//! Closed sets of snake_case words (statuses, kinds, roles…): one Rust enum
//! each, sent and stored as its word. `Word` is what the database layer
//! needs to store one in a text column (`db::words::text_column!`); reading
//! a word that is not in the set is an error there, never a default.

/// A value that is one word of a closed set.
pub trait Word: Sized + Copy + std::fmt::Debug + 'static {
    /// What the set is called, for error messages (`resource status`).
    const WHAT: &'static str;
    /// The stored and sent word.
    fn word(self) -> &'static str;
    /// The value a word stands for, if it is one of the set.
    fn from_word(raw: &str) -> Option<Self>;
    /// Every value of the set, in order.
    fn all() -> &'static [Self];
}

/// Declares a word enum: serde and OpenAPI as snake_case words, `as_str`,
/// `parse`, `ALL`, `choices`, and the `Word` impl.
macro_rules! word_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize, utoipa::ToSchema, diesel::AsExpression, diesel::FromSqlRow)]
        #[serde(rename_all = "snake_case")]
        #[diesel(sql_type = diesel::sql_types::Text)]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            pub fn parse(raw: &str) -> Option<Self> {
                match raw { $($text => Some($name::$variant),)+ _ => None }
            }

            /// `a`, `b` or `c`: for messages.
            pub fn choices() -> String {
                let words: Vec<String> = Self::ALL.iter().map(|v| format!("`{}`", v.as_str())).collect();
                words.join(", ")
            }
        }

        impl $crate::domain::Word for $name {
            const WHAT: &'static str = stringify!($name);
            fn word(self) -> &'static str {
                self.as_str()
            }
            fn from_word(raw: &str) -> Option<Self> {
                Self::parse(raw)
            }
            fn all() -> &'static [Self] {
                Self::ALL
            }
        }
    };
}

pub(crate) use word_enum;
