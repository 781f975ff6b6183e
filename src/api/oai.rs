//! OAI-PMH 2.0 at `/oai` (GET and POST, at the root like `/healthz`):
//! Identify, ListMetadataFormats, ListSets, ListIdentifiers, ListRecords,
//! GetRecord, in `oai_dc` and `oai_datacite` (DataCite kernel 4). Every
//! answer is a 200 `text/xml`, protocol errors included, as the protocol
//! requires. The records come from `app::oai` (kept from the domain
//! events, deleted records persistent); only what an anonymous reader may
//! see is ever described. `docs/standards/oai.md` says what maps to what.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Datelike, Utc};

use crate::app::oai::{self as records, Listed};
use crate::db::resources::Loaded;
use crate::db::{Db, DbConnection, oai as store};
use crate::domain::oai::{
    self as proto, ErrorCode, FORMATS, ListQuery, OaiError, PAGE, Request, SetSpec, Token,
    format_stamp,
};
use crate::domain::resource::{AccessLevel, Details, ResourceKind};
use crate::error::ApiError;
use crate::state::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/oai")
            .route(super::get().to(oai_get))
            .route(web::post().to(oai_post)),
    );
}

/// Where the repository is, as harvesters name it.
#[derive(Debug, Clone)]
pub struct Repository {
    pub name: String,
    pub base_url: String,
    /// The API's origin, for landing pages.
    pub origin: String,
    /// The repositoryIdentifier of `oai:<it>:<id>` identifiers.
    pub host: String,
    pub admin_email: String,
}

impl Repository {
    pub fn of(state: &AppState) -> Self {
        let origin = state
            .settings
            .platform
            .public_url
            .trim_end_matches('/')
            .to_string();
        let host = url::Url::parse(&origin)
            .ok()
            .and_then(|u| u.host_str().map(str::to_string))
            .unwrap_or_else(|| "localhost".into());
        let from = &state.settings.mail.from;
        let admin_email = match (from.rfind('<'), from.rfind('>')) {
            (Some(a), Some(b)) if a < b => from[a + 1..b].to_string(),
            _ => from.trim().to_string(),
        };
        Self {
            name: state.settings.platform.name.clone(),
            base_url: format!("{origin}/oai"),
            origin,
            host,
            admin_email,
        }
    }

    pub fn identifier(&self, resource_id: &str) -> String {
        format!("oai:{}:{resource_id}", self.host)
    }

    fn resource_id<'a>(&self, identifier: &'a str) -> Option<&'a str> {
        identifier
            .strip_prefix("oai:")?
            .strip_prefix(self.host.as_str())?
            .strip_prefix(':')
            .filter(|id| !id.is_empty())
    }

    pub fn landing(&self, kind: ResourceKind, id: &str) -> String {
        format!("{}/api/v1/{}/{id}", self.origin, kind.collection())
    }
}

/// The OAI-PMH verbs.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[schema(as = OaiVerb)]
pub enum OaiVerb {
    Identify,
    ListMetadataFormats,
    ListSets,
    ListIdentifiers,
    ListRecords,
    GetRecord,
}

/// The arguments of an OAI-PMH request (which a verb takes, requires or
/// forbids is the protocol's rule; breaking it is an error in the XML
/// answer, never a 4xx). Documentation only: the handlers read the raw
/// query or form, strictly (`domain::oai::read_arguments`).
#[derive(Debug, serde::Deserialize, utoipa::IntoParams, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
#[schema(as = OaiArguments)]
#[allow(dead_code, reason = "documentation of the arguments, read by hand")]
pub struct OaiArguments {
    /// The request: Identify, ListMetadataFormats, ListSets,
    /// ListIdentifiers, ListRecords or GetRecord (missing, repeated or
    /// unknown: `badVerb`).
    verb: OaiVerb,
    /// A record's identifier, `oai:<host>:<resource id>` (GetRecord,
    /// ListMetadataFormats).
    #[param(example = "oai:localhost:0190f3b4-5c3e-7000-8000-000000000000")]
    identifier: Option<String>,
    /// `oai_dc` or `oai_datacite` (GetRecord, ListIdentifiers, ListRecords).
    #[param(example = "oai_dc")]
    metadata_prefix: Option<String>,
    /// Records changed at or after: `YYYY-MM-DD` or `YYYY-MM-DDThh:mm:ssZ`
    /// (ListIdentifiers, ListRecords).
    #[param(example = "2026-01-01")]
    from: Option<String>,
    /// Records changed at or before (inclusive at its granularity, which must
    /// be `from`'s).
    #[param(example = "2026-12-31")]
    until: Option<String>,
    /// A setSpec from ListSets: `kind`, `kind:<kind>`, `institution`,
    /// `institution:<slug>`, `country`, `country:<ISO 3166-1 alpha-2>`.
    #[param(example = "kind:dataset")]
    set: Option<String>,
    /// The token of the previous page of a list (ListSets,
    /// ListIdentifiers, ListRecords); exclusive: no other argument but `verb`.
    resumption_token: Option<String>,
}

/// OAI-PMH 2.0, by GET.
///
/// Every answer is a 200 `text/xml` OAI-PMH document, the protocol's
/// errors included (`badVerb`, `badArgument`, `badResumptionToken`,
/// `cannotDisseminateFormat`, `idDoesNotExist`, `noRecordsMatch`): an
/// argument that is not UTF-8 text, or holds a control character, is a
/// `badArgument` here too. Only what an anonymous reader may see is
/// described; deleted records persist. See `docs/standards/oai.md`.
#[utoipa::path(
    get,
    path = "/oai",
    tag = "standards",
    params(OaiArguments),
    responses(
        (status = 200, description = "An OAI-PMH 2.0 response (an answer or the protocol's errors)",
         body = String, content_type = "text/xml")
    )
)]
pub async fn oai_get(
    req: HttpRequest,
    db: web::Data<Db>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    answer(req.query_string().as_bytes(), &db, &state).await
}

/// OAI-PMH 2.0, by POST.
///
/// The same arguments as the GET, as an `application/x-www-form-urlencoded`
/// body (another media type, or arguments in the query string, is a
/// `badArgument`). Every answer is a 200 `text/xml` OAI-PMH document.
#[utoipa::path(
    post,
    path = "/oai",
    tag = "standards",
    request_body(content = OaiArguments, content_type = "application/x-www-form-urlencoded",
        description = "The OAI-PMH arguments"),
    responses(
        (status = 200, description = "An OAI-PMH 2.0 response (an answer or the protocol's errors)",
         body = String, content_type = "text/xml")
    )
)]
pub async fn oai_post(
    req: HttpRequest,
    body: web::Bytes,
    db: web::Data<Db>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let form = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';').next().is_some_and(|m| {
                m.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            })
        });
    let repo = Repository::of(&state);
    if !form {
        return Ok(xml_response(render_error(
            &repo,
            &[],
            &[OaiError::new(
                ErrorCode::BadArgument,
                "A POST request carries its arguments as application/x-www-form-urlencoded.",
            )],
        )));
    }
    if !req.query_string().is_empty() {
        return Ok(xml_response(render_error(
            &repo,
            &[],
            &[OaiError::new(
                ErrorCode::BadArgument,
                "A POST request carries its arguments in the body only.",
            )],
        )));
    }
    answer(&body, &db, &state).await
}

fn xml_response(body: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/xml; charset=utf-8")
        .insert_header(("Cache-Control", "no-cache"))
        .body(body)
}

/// Answers the arguments of a GET query or a POST form (raw, still
/// percent-encoded): protocol errors included, always a 200 XML answer
/// unless the database fails.
async fn answer(raw: &[u8], db: &Db, state: &AppState) -> Result<HttpResponse, ApiError> {
    let repo = Repository::of(state);
    let now = Utc::now();
    // Arguments that are not UTF-8 text, or hold control characters: the
    // generic rule (`http::text`, a 400 problem) does not apply at /oai.
    let pairs = match proto::read_arguments(raw) {
        Ok(pairs) => pairs,
        Err(e) => return Ok(xml_response(render_error(&repo, &[], &[e]))),
    };
    let (request, echo) = match proto::parse(&pairs, now) {
        Ok(x) => x,
        Err(e) => {
            // badVerb and badArgument: the request element carries no
            // attributes; a bad token still echoes what was sent.
            let echo: Vec<(String, String)> = if e.code == ErrorCode::BadResumptionToken {
                pairs
            } else {
                Vec::new()
            };
            return Ok(xml_response(render_error(&repo, &echo, &[e])));
        }
    };
    let body = db
        .run(move |conn| -> Result<String, ApiError> {
            records::catch_up(conn)?;
            match execute(conn, &repo, request, now) {
                Ok(inner) => Ok(envelope(&repo, &echo, now, &inner)),
                Err(Fail::Oai(errors)) => Ok(render_error(&repo, &echo, &errors)),
                Err(Fail::Db(e)) => Err(e.into()),
            }
        })
        .await?;
    Ok(xml_response(body))
}

/// Why a verb gives no answer: the protocol's errors (a 200 XML answer), or
/// the database's (a 500 problem).
enum Fail {
    Oai(Vec<OaiError>),
    Db(diesel::result::Error),
}

impl From<diesel::result::Error> for Fail {
    fn from(e: diesel::result::Error) -> Self {
        Self::Db(e)
    }
}

impl From<Vec<OaiError>> for Fail {
    fn from(e: Vec<OaiError>) -> Self {
        Self::Oai(e)
    }
}

type Answer = Result<String, Fail>;

fn execute(
    conn: &mut DbConnection,
    repo: &Repository,
    request: Request,
    now: DateTime<Utc>,
) -> Answer {
    match request {
        Request::Identify => identify(conn, repo),
        Request::ListMetadataFormats { identifier } => {
            if let Some(identifier) = identifier {
                find(conn, repo, &identifier)?;
            }
            let mut x = String::from("<ListMetadataFormats>");
            for (prefix, schema, ns) in FORMATS {
                x.push_str(&format!(
                    "<metadataFormat><metadataPrefix>{prefix}</metadataPrefix><schema>{schema}</schema><metadataNamespace>{ns}</metadataNamespace></metadataFormat>"
                ));
            }
            x.push_str("</ListMetadataFormats>");
            Ok(x)
        }
        Request::ListSets { token } => list_sets(conn, token, now),
        Request::GetRecord { identifier, prefix } => {
            if !proto::known_format(&prefix) {
                return Err(vec![cannot_disseminate(&prefix)].into());
            }
            let row = find(conn, repo, &identifier)?;
            let listed = records::with_resources(conn, vec![row])?;
            let mut x = String::from("<GetRecord>");
            for l in &listed {
                x.push_str(&record(repo, l, &prefix, true));
            }
            x.push_str("</GetRecord>");
            Ok(x)
        }
        Request::List { q, token } => list(conn, repo, q, token, now),
    }
}

fn cannot_disseminate(prefix: &str) -> OaiError {
    OaiError::new(
        ErrorCode::CannotDisseminateFormat,
        format!("`{prefix}` is not a metadata format of this repository (oai_dc, oai_datacite)."),
    )
}

fn find(
    conn: &mut DbConnection,
    repo: &Repository,
    identifier: &str,
) -> Result<store::OaiRow, Fail> {
    let missing = || {
        Fail::Oai(vec![OaiError::new(
            ErrorCode::IdDoesNotExist,
            format!("`{identifier}` is not an identifier of this repository."),
        )])
    };
    let id = repo.resource_id(identifier).ok_or_else(missing)?;
    store::get(conn, &[id.to_string()])?
        .into_iter()
        .next()
        .ok_or_else(missing)
}

fn identify(conn: &mut DbConnection, repo: &Repository) -> Answer {
    let earliest = store::earliest(conn)?.unwrap_or_else(crate::db::now);
    // The oai-identifier description only where the host is a domain name
    // its scheme admits (not `localhost` or an IP address).
    let description = if proto::repository_identifier_syntax(&repo.host) {
        format!(
            "<description><oai-identifier xmlns=\"http://www.openarchives.org/OAI/2.0/oai-identifier\" \
             xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" \
             xsi:schemaLocation=\"http://www.openarchives.org/OAI/2.0/oai-identifier http://www.openarchives.org/OAI/2.0/oai-identifier.xsd\">\
             <scheme>oai</scheme><repositoryIdentifier>{}</repositoryIdentifier><delimiter>:</delimiter>\
             <sampleIdentifier>{}</sampleIdentifier></oai-identifier></description>",
            esc(&repo.host),
            esc(&repo.identifier("0190f3b4-5c3e-7000-8000-000000000000")),
        )
    } else {
        String::new()
    };
    Ok(format!(
        "<Identify><repositoryName>{}</repositoryName><baseURL>{}</baseURL>\
         <protocolVersion>2.0</protocolVersion><adminEmail>{}</adminEmail>\
         <earliestDatestamp>{}</earliestDatestamp><deletedRecord>persistent</deletedRecord>\
         <granularity>YYYY-MM-DDThh:mm:ssZ</granularity>{description}</Identify>",
        esc(&repo.name),
        esc(&repo.base_url),
        esc(&repo.admin_email),
        format_stamp(earliest),
    ))
}

fn kind_name(kind: &str) -> &'static str {
    match kind {
        "course" => "Courses",
        "dataset" => "Datasets",
        "model_card" => "Model cards",
        _ => "Resources",
    }
}

fn country_name(code: &str) -> String {
    rust_iso3166::from_alpha2(code)
        .map(|c| c.name.to_string())
        .unwrap_or_else(|| code.to_string())
}

/// ListSets, a page at a time. The sets come family by family in the
/// order of [`SetSpec::PARENTS`], each parent before its members: kinds and
/// countries (few) sorted here, institutions (many) by slug in the
/// database's order, read a page at a time after the slug the token names.
fn list_sets(conn: &mut DbConnection, token: Option<Token>, now: DateTime<Utc>) -> Answer {
    let mut kinds = store::kinds(conn)?;
    kinds.sort();
    let mut countries = store::countries(conn)?;
    countries.sort();
    let (cursor, size) = match &token {
        Some(t) => (t.cursor, t.size),
        None => {
            let parents = SetSpec::PARENTS.len() as i64;
            let small = (kinds.len() + countries.len()) as i64;
            (0, parents + small + store::institution_set_count(conn)?)
        }
    };
    // Where the last page stopped: the family (its index in PARENTS) and
    // the member sent last (`None`: the parent itself).
    let position: Option<(usize, Option<String>)> = match &token {
        None => None,
        Some(t) => Some(match t.last_set().map_err(|e| vec![e])? {
            SetSpec::Parent(p) => (family(&p), None),
            SetSpec::Kind(k) => (family("kind"), Some(k)),
            SetSpec::Institution(i) => (family("institution"), Some(i)),
            SetSpec::Country(c) => (family("country"), Some(c)),
        }),
    };
    let want = (PAGE + 1) as usize;
    let mut sets: Vec<(String, String)> = Vec::with_capacity(want);
    for (i, (parent, parent_name)) in SetSpec::PARENTS.iter().enumerate() {
        let after: Option<&str> = match &position {
            Some((at, _)) if i < *at => continue,
            Some((at, member)) if i == *at => member.as_deref(),
            _ => {
                sets.push(((*parent).to_string(), (*parent_name).to_string()));
                None
            }
        };
        let room = want.saturating_sub(sets.len());
        if room == 0 {
            break;
        }
        let later = |x: &&String| after.is_none_or(|a| x.as_str() > a);
        match *parent {
            "kind" => sets.extend(
                kinds
                    .iter()
                    .filter(later)
                    .take(room)
                    .map(|k| (SetSpec::Kind(k.clone()).spec(), kind_name(k).to_string())),
            ),
            "country" => sets.extend(
                countries
                    .iter()
                    .filter(later)
                    .take(room)
                    .map(|c| (SetSpec::Country(c.clone()).spec(), country_name(c))),
            ),
            _ => sets.extend(
                store::institution_sets(conn, after.unwrap_or(""), room as i64)?
                    .into_iter()
                    .map(|(slug, name)| (SetSpec::Institution(slug).spec(), name)),
            ),
        }
    }
    let more = sets.len() > PAGE as usize;
    sets.truncate(PAGE as usize);
    let sent = sets.len() as i64;
    let mut x = String::from("<ListSets>");
    for (spec, name) in &sets {
        x.push_str(&format!(
            "<set><setSpec>{}</setSpec><setName>{}</setName></set>",
            esc(spec),
            esc(name)
        ));
    }
    let size = size.max(cursor + sent);
    let next = match sets.last() {
        Some((last, _)) if more => Some(Token::for_sets(last.clone(), cursor + sent, size, now)),
        _ => None,
    };
    x.push_str(&resumption(next.as_ref(), token.is_some(), cursor, size));
    x.push_str("</ListSets>");
    Ok(x)
}

/// The index of a set family in [`SetSpec::PARENTS`].
fn family(parent: &str) -> usize {
    SetSpec::PARENTS
        .iter()
        .position(|(p, _)| *p == parent)
        .unwrap_or(SetSpec::PARENTS.len())
}

/// The `resumptionToken` element of a list page: the next page's token;
/// an empty one on the last page of a list that took several
/// (`continued`); nothing for a list sent whole.
fn resumption(next: Option<&Token>, continued: bool, cursor: i64, size: i64) -> String {
    match next {
        Some(next) => format!(
            "<resumptionToken expirationDate=\"{}\" completeListSize=\"{size}\" cursor=\"{cursor}\">{}</resumptionToken>",
            next.expires.format("%Y-%m-%dT%H:%M:%SZ"),
            next.encode()
        ),
        None if continued => {
            format!("<resumptionToken completeListSize=\"{size}\" cursor=\"{cursor}\"/>")
        }
        None => String::new(),
    }
}

fn no_records() -> Vec<OaiError> {
    vec![OaiError::new(
        ErrorCode::NoRecordsMatch,
        "No record matches these arguments.",
    )]
}

fn list(
    conn: &mut DbConnection,
    repo: &Repository,
    q: ListQuery,
    token: Option<Token>,
    now: DateTime<Utc>,
) -> Answer {
    if !proto::known_format(&q.prefix) {
        return Err(vec![cannot_disseminate(&q.prefix)].into());
    }
    let mut selection = store::Selection {
        from: q.from,
        before: q.before,
        ..Default::default()
    };
    match &q.set {
        None | Some(SetSpec::Parent(_)) => {}
        Some(SetSpec::Kind(k)) => selection.kind = Some(k.clone()),
        Some(SetSpec::Country(c)) => selection.country = Some(c.clone()),
        Some(SetSpec::Institution(slug)) => match store::institution_by_slug(conn, slug)? {
            Some(id) => selection.institution_id = Some(id),
            None => return Err(no_records().into()),
        },
    }
    let (cursor, size) = match &token {
        Some(t) => (t.cursor, t.size),
        None => (0, store::count(conn, &selection)?),
    };
    let mut rows = store::page(conn, &selection, token.as_ref().map(|t| &t.after), PAGE + 1)?;
    let more = rows.len() as i64 > PAGE;
    rows.truncate(PAGE as usize);
    if rows.is_empty() && token.is_none() {
        return Err(no_records().into());
    }
    let next_after = rows.last().map(|r| (r.datestamp, r.resource_id.clone()));
    let sent = rows.len() as i64;
    let listed = records::with_resources(conn, rows)?;
    let element = q.verb.as_str();
    let mut x = format!("<{element}>");
    let full = q.verb == proto::Verb::ListRecords;
    for l in &listed {
        if full {
            x.push_str(&record(repo, l, &q.prefix, true));
        } else {
            x.push_str(&header(repo, l));
        }
    }
    // The list grew while it was harvested: the size is at least what was sent.
    let size = size.max(cursor + sent);
    let next = match (more, next_after) {
        (true, Some(after)) => Some(Token {
            q,
            after,
            cursor: cursor + sent,
            size,
            expires: Token::expiry(now),
        }),
        _ => None,
    };
    x.push_str(&resumption(next.as_ref(), token.is_some(), cursor, size));
    x.push_str(&format!("</{element}>"));
    Ok(x)
}

// ----- XML -----------------------------------------------------------------------

/// Text and attribute values, escaped; characters XML 1.0 cannot carry
/// are dropped (control characters never enter the service anyway).
fn esc(s: &str) -> String {
    let clean: String = s
        .chars()
        .filter(|c| {
            matches!(c, '\t' | '\n' | '\r') || (*c >= ' ' && *c != '\u{FFFE}' && *c != '\u{FFFF}')
        })
        .collect();
    quick_xml::escape::escape(clean.as_str()).into_owned()
}

fn envelope(
    repo: &Repository,
    echo: &[(String, String)],
    now: DateTime<Utc>,
    inner: &str,
) -> String {
    let mut attrs = String::new();
    for (k, v) in echo {
        attrs.push_str(&format!(" {}=\"{}\"", esc(k), esc(v)));
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <OAI-PMH xmlns=\"http://www.openarchives.org/OAI/2.0/\" \
         xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" \
         xsi:schemaLocation=\"http://www.openarchives.org/OAI/2.0/ http://www.openarchives.org/OAI/2.0/OAI-PMH.xsd\">\
         <responseDate>{}</responseDate><request{attrs}>{}</request>{inner}</OAI-PMH>",
        now.format("%Y-%m-%dT%H:%M:%SZ"),
        esc(&repo.base_url),
    )
}

fn render_error(repo: &Repository, echo: &[(String, String)], errors: &[OaiError]) -> String {
    let mut inner = String::new();
    for e in errors {
        inner.push_str(&format!(
            "<error code=\"{}\">{}</error>",
            e.code.as_str(),
            esc(&e.message)
        ));
    }
    // Only arguments that are legal OAI-PMH arguments are echoed.
    let legal = [
        "verb",
        "identifier",
        "metadataPrefix",
        "from",
        "until",
        "set",
        "resumptionToken",
    ];
    let echo: Vec<(String, String)> = echo
        .iter()
        .filter(|(k, _)| legal.contains(&k.as_str()))
        .cloned()
        .collect();
    envelope(repo, &echo, Utc::now(), &inner)
}

fn header(repo: &Repository, l: &Listed) -> String {
    let deleted = l.resource.is_none();
    let mut x = format!(
        "<header{}><identifier>{}</identifier><datestamp>{}</datestamp>",
        if deleted { " status=\"deleted\"" } else { "" },
        esc(&repo.identifier(&l.row.resource_id)),
        format_stamp(l.row.datestamp)
    );
    x.push_str(&format!(
        "<setSpec>{}</setSpec>",
        esc(&SetSpec::Kind(l.row.kind.clone()).spec())
    ));
    if let Some(slug) = &l.institution_slug {
        x.push_str(&format!(
            "<setSpec>{}</setSpec>",
            esc(&SetSpec::Institution(slug.clone()).spec())
        ));
    }
    x.push_str(&format!(
        "<setSpec>{}</setSpec>",
        esc(&SetSpec::Country(l.row.country.clone()).spec())
    ));
    x.push_str("</header>");
    x
}

fn record(repo: &Repository, l: &Listed, prefix: &str, _full: bool) -> String {
    let mut x = String::from("<record>");
    x.push_str(&header(repo, l));
    if let Some(r) = &l.resource {
        let d = Described::of(repo, r);
        x.push_str("<metadata>");
        x.push_str(&if prefix == "oai_datacite" {
            d.datacite()
        } else {
            d.dublin_core()
        });
        x.push_str("</metadata>");
    }
    x.push_str("</record>");
    x
}

/// What the metadata formats say about a resource, read once.
#[derive(Debug)]
pub struct Described {
    pub kind: ResourceKind,
    pub title: String,
    pub summary: String,
    pub description: String,
    pub publisher: String,
    pub license: Option<String>,
    pub languages: Vec<String>,
    pub countries: Vec<String>,
    pub tags: Vec<String>,
    pub landing: String,
    /// Set by the owner (`10.nnnn/…`): the DataCite identifier then.
    pub doi: Option<String>,
    pub issued: chrono::NaiveDateTime,
    pub modified: chrono::NaiveDateTime,
    pub version: i64,
    pub details: Option<Details>,
}

fn json_list(raw: &str) -> Vec<String> {
    serde_json::from_str(raw).unwrap_or_default()
}

impl Described {
    pub fn of(repo: &Repository, l: &Loaded) -> Self {
        let r = &l.row;
        Self {
            kind: r.kind,
            title: r.title.clone(),
            summary: r.summary.clone(),
            description: r.description.clone(),
            publisher: l.institution_name.clone(),
            license: r.license.clone(),
            languages: json_list(&r.languages),
            countries: json_list(&r.countries),
            tags: json_list(&r.tags),
            landing: repo.landing(r.kind, &r.id),
            doi: r.doi.clone(),
            issued: r.published_at.unwrap_or(r.created_at),
            modified: r.updated_at,
            version: r.version,
            details: Details::from_json(r.kind, &r.details).ok(),
        }
    }

    fn dcmi_type(&self) -> &'static str {
        match self.kind {
            ResourceKind::Dataset => "Dataset",
            ResourceKind::Course => "InteractiveResource",
            ResourceKind::ModelCard => "Software",
        }
    }

    fn kind_label(&self) -> &'static str {
        match self.kind {
            ResourceKind::Dataset => "Dataset",
            ResourceKind::Course => "Course",
            ResourceKind::ModelCard => "Machine learning model",
        }
    }

    fn dataset(&self) -> Option<&crate::domain::resource::DatasetFields> {
        match &self.details {
            Some(Details::Dataset(d)) => Some(d),
            _ => None,
        }
    }

    /// The eu-repo access right of the resource.
    fn access_right(&self) -> &'static str {
        match self.dataset().map(|d| d.access_level) {
            Some(AccessLevel::Restricted) => "info:eu-repo/semantics/restrictedAccess",
            Some(AccessLevel::Registered) => "info:eu-repo/semantics/restrictedAccess",
            _ => "info:eu-repo/semantics/openAccess",
        }
    }

    pub fn dublin_core(&self) -> String {
        let mut x = String::from(
            "<oai_dc:dc xmlns:oai_dc=\"http://www.openarchives.org/OAI/2.0/oai_dc/\" \
             xmlns:dc=\"http://purl.org/dc/elements/1.1/\" \
             xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" \
             xsi:schemaLocation=\"http://www.openarchives.org/OAI/2.0/oai_dc/ http://www.openarchives.org/OAI/2.0/oai_dc.xsd\">",
        );
        let mut el = |name: &str, value: &str| {
            if !value.trim().is_empty() {
                x.push_str(&format!("<dc:{name}>{}</dc:{name}>", esc(value)));
            }
        };
        el("title", &self.title);
        el("creator", &self.publisher);
        for t in &self.tags {
            el("subject", t);
        }
        el("description", &self.summary);
        el("description", &self.description);
        el("publisher", &self.publisher);
        el("date", &self.issued.format("%Y-%m-%d").to_string());
        el("type", self.dcmi_type());
        el("type", self.kind_label());
        if let Some(d) = self.dataset() {
            for f in &d.formats {
                el("format", f);
            }
        }
        el("identifier", &self.landing);
        for lang in &self.languages {
            el("language", lang);
        }
        for c in &self.countries {
            el("coverage", &country_name(c));
        }
        if let Some(lic) = &self.license {
            el("rights", &format!("https://spdx.org/licenses/{lic}.html"));
        }
        el("rights", self.access_right());
        x.push_str("</oai_dc:dc>");
        x
    }

    fn resource_type_general(&self) -> &'static str {
        match self.kind {
            ResourceKind::Dataset => "Dataset",
            ResourceKind::ModelCard => "Model",
            ResourceKind::Course => "InteractiveResource",
        }
    }

    pub fn datacite(&self) -> String {
        let mut x = String::from(
            "<resource xmlns=\"http://datacite.org/schema/kernel-4\" \
             xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" \
             xsi:schemaLocation=\"http://datacite.org/schema/kernel-4 http://schema.datacite.org/meta/kernel-4/metadata.xsd\">",
        );
        // The DOI when the owner set one (the landing page then an alternate
        // identifier), else the landing page.
        match &self.doi {
            Some(doi) => x.push_str(&format!(
                "<identifier identifierType=\"DOI\">{}</identifier>\
                 <alternateIdentifiers><alternateIdentifier alternateIdentifierType=\"URL\">{}\
                 </alternateIdentifier></alternateIdentifiers>",
                esc(doi),
                esc(&self.landing)
            )),
            None => x.push_str(&format!(
                "<identifier identifierType=\"URL\">{}</identifier>",
                esc(&self.landing)
            )),
        }
        x.push_str(&format!(
            "<creators><creator><creatorName nameType=\"Organizational\">{}</creatorName></creator></creators>",
            esc(&self.publisher)
        ));
        x.push_str(&format!(
            "<titles><title>{}</title></titles>",
            esc(&self.title)
        ));
        x.push_str(&format!("<publisher>{}</publisher>", esc(&self.publisher)));
        x.push_str(&format!(
            "<publicationYear>{}</publicationYear>",
            self.issued.year()
        ));
        x.push_str(&format!(
            "<resourceType resourceTypeGeneral=\"{}\">{}</resourceType>",
            self.resource_type_general(),
            self.kind_label()
        ));
        if !self.tags.is_empty() {
            x.push_str("<subjects>");
            for t in &self.tags {
                x.push_str(&format!("<subject>{}</subject>", esc(t)));
            }
            x.push_str("</subjects>");
        }
        x.push_str(&format!(
            "<dates><date dateType=\"Issued\">{}</date><date dateType=\"Updated\">{}</date></dates>",
            self.issued.format("%Y-%m-%d"),
            self.modified.format("%Y-%m-%d")
        ));
        if let Some(lang) = self.languages.first() {
            x.push_str(&format!("<language>{}</language>", esc(lang)));
        }
        if let Some(d) = self.dataset() {
            let mut sizes = Vec::new();
            if let Some(b) = d.size_bytes {
                sizes.push(format!("{b} bytes"));
            }
            if let Some(n) = d.record_count {
                sizes.push(format!("{n} records"));
            }
            if !sizes.is_empty() {
                x.push_str("<sizes>");
                for s in sizes {
                    x.push_str(&format!("<size>{s}</size>"));
                }
                x.push_str("</sizes>");
            }
            if !d.formats.is_empty() {
                x.push_str("<formats>");
                for f in &d.formats {
                    x.push_str(&format!("<format>{}</format>", esc(f)));
                }
                x.push_str("</formats>");
            }
        }
        x.push_str(&format!("<version>{}</version>", self.version));
        x.push_str("<rightsList>");
        if let Some(lic) = &self.license {
            x.push_str(&format!(
                "<rights rightsURI=\"https://spdx.org/licenses/{0}.html\" rightsIdentifier=\"{0}\" \
                 rightsIdentifierScheme=\"SPDX\" schemeURI=\"https://spdx.org/licenses/\">{0}</rights>",
                esc(lic)
            ));
        }
        x.push_str(&format!("<rights rightsURI=\"{}\"/>", self.access_right()));
        x.push_str("</rightsList>");
        x.push_str("<descriptions>");
        if !self.summary.trim().is_empty() {
            x.push_str(&format!(
                "<description descriptionType=\"Abstract\">{}</description>",
                esc(&self.summary)
            ));
        }
        if !self.description.trim().is_empty() {
            x.push_str(&format!(
                "<description descriptionType=\"Other\">{}</description>",
                esc(&self.description)
            ));
        }
        x.push_str("</descriptions>");
        if !self.countries.is_empty() {
            x.push_str("<geoLocations>");
            for c in &self.countries {
                x.push_str(&format!(
                    "<geoLocation><geoLocationPlace>{}</geoLocationPlace></geoLocation>",
                    esc(&country_name(c))
                ));
            }
            x.push_str("</geoLocations>");
        }
        x.push_str("</resource>");
        x
    }
}
