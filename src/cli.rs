//! The command line: `serve` (default), `migrate`, `openapi`, `worker`,
//! `mail`, `admin`, `seed-demo`, `events`.
#![allow(clippy::print_stdout, reason = "a command line prints its results")]

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::config::{Overrides, Settings};
use crate::db::{self, ConnectionManager};
use crate::startup::Application;

/// Exit code for an unusable setting or command line.
pub const EXIT_CONFIG: u8 = 2;

#[derive(Debug, Parser)]
#[command(
    name = "kujenga",
    version,
    about = "Kujenga: courses, datasets and model cards shared across borders",
    long_about = "Kujenga: the backend of an AI capacity-building knowledge-sharing platform.\n\n\
Settings come from built-in defaults, then a TOML file (--config or KUJENGA_CONFIG), then \
KUJENGA_* environment variables (nested keys with __, e.g. KUJENGA_DATABASE__POOL_SIZE) and \
DATABASE_URL, then flags. See kujenga.example.toml for every setting."
)]
pub struct Cli {
    /// A TOML settings file.
    #[arg(long, global = true, env = "KUJENGA_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Folder for the SQLite database, signing key and mail [env: KUJENGA_DATA_DIR] [default: data]
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server (the default command).
    Serve(ServeArgs),
    /// Apply pending database migrations, or revert the last one.
    Migrate(MigrateArgs),
    /// Print the OpenAPI document (JSON) to standard output.
    Openapi,
    /// Run only the delivery workers, email and webhooks (no HTTP server).
    Worker,
    /// Email tools.
    #[command(subcommand)]
    Mail(MailCommand),
    /// Administrative tasks.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Fill a fresh database with demo institutions and published resources.
    #[command(
        long_about = "Fill a fresh database with demo data: verified institutions (slugs `demo-…`, \
no members) and published courses, datasets and model cards with varied languages, countries, \
visibilities, licences and risk tiers, dataset files and typed links. Every resource passes the \
same validation and publication checks as one made through the API.\n\n\
Uses the same settings as `serve` (--data-dir, --config, DATABASE_URL) and applies pending \
migrations first. It refuses, with exit code 2, a database that already holds any of the demo \
institutions it would create: seed a fresh one instead. Demo institutions have no accounts; \
`kujenga admin create` makes an admin who sees every resource."
    )]
    SeedDemo(SeedDemoArgs),
    /// The domain event log (docs/EVENTS.md).
    #[command(subcommand)]
    Events(EventsCommand),
}

#[derive(Debug, Subcommand)]
pub enum EventsCommand {
    /// Delete the events that occurred before a day (UTC); prints how many.
    Prune {
        /// The first day to keep, YYYY-MM-DD (UTC midnight).
        #[arg(long, value_name = "DATE")]
        before: chrono::NaiveDate,
    },
}

#[derive(Debug, Args)]
pub struct SeedDemoArgs {
    /// Published resources to create (about 40 % courses, 35 % datasets, 25 % model cards).
    #[arg(long, value_name = "N", default_value_t = 10_000,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub resources: u32,
    /// Verified demo institutions that own them.
    #[arg(long, value_name = "M", default_value_t = 20,
          value_parser = clap::value_parser!(u32).range(1..=1_000))]
    pub institutions: u32,
}

#[derive(Debug, Args, Default)]
pub struct ServeArgs {
    /// Address to listen on, ADDR:PORT; port 0 picks a free one [env: KUJENGA_BIND] [default: 127.0.0.1:8080]
    #[arg(long, value_name = "ADDR:PORT")]
    pub bind: Option<String>,
}

#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// Revert the most recently applied migration instead.
    #[arg(long)]
    pub revert: bool,
}

#[derive(Debug, Subcommand)]
pub enum MailCommand {
    /// Print an email rendered with example data (subject, text and HTML parts).
    Preview {
        /// The template, e.g. verify_email; omit it to list them.
        template: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create a platform admin, or promote an existing user (password from a prompt or stdin).
    Create {
        /// The admin's email address.
        #[arg(long)]
        email: String,
    },
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let bind = match &cli.command {
        Some(Command::Serve(args)) => args.bind.clone(),
        _ => None,
    };
    let overrides = Overrides {
        bind,
        data_dir: cli.data_dir.clone(),
    };
    let env: Vec<(String, String)> = std::env::vars().collect();
    let command = cli.command.unwrap_or(Command::Serve(ServeArgs::default()));
    if let Command::Openapi = command {
        let mut out = std::io::stdout().lock();
        return match out.write_all(crate::api::openapi_json().as_bytes()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(_) => ExitCode::FAILURE,
        };
    }
    let settings = match Settings::load(cli.config.as_deref(), &env, &overrides) {
        Ok(s) => s,
        Err(err) => {
            eprintln!("kujenga: {err}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    crate::telemetry::init(&settings.log);
    let result = match command {
        Command::Serve(_) | Command::Openapi => serve(settings),
        Command::Migrate(args) => migrate(&settings, args.revert),
        Command::Worker => run_worker(settings),
        Command::Mail(MailCommand::Preview { template }) => preview(&settings, template.as_deref()),
        Command::Admin(AdminCommand::Create { email }) => admin_create(&settings, &email),
        Command::SeedDemo(args) => seed_demo(&settings, &args),
        Command::Events(EventsCommand::Prune { before }) => events_prune(&settings, before),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if err.is::<crate::demo::AlreadySeeded>() => {
            eprintln!("kujenga: {err}");
            ExitCode::from(EXIT_CONFIG)
        }
        Err(err) => {
            tracing::error!("{err:#}");
            eprintln!("kujenga: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn serve(settings: Settings) -> anyhow::Result<()> {
    actix_web::rt::System::new().block_on(async move {
        let app = Application::build(settings).await?;
        app.run_until_stopped().await?;
        tracing::info!("stopped");
        Ok(())
    })
}

fn run_worker(settings: Settings) -> anyhow::Result<()> {
    actix_web::rt::System::new().block_on(async move {
        let db = {
            let settings = settings.clone();
            tokio::task::spawn_blocking(move || crate::db::Db::connect(&settings)).await??
        };
        let worker = crate::mail::worker::build(&db, &settings, None)?;
        let outbox = std::sync::Arc::new(crate::mail::Outbox::new(
            &settings.mail,
            &settings.platform.name,
            &settings.platform.frontend_url,
        )?);
        let hooks =
            crate::jobs::webhooks::Deliverer::new(db.clone(), &settings.webhooks, outbox, None)?;
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(worker.run(stopped.clone()));
        let hooks = tokio::spawn(hooks.run(stopped));
        shutdown_signal().await;
        tracing::info!("stopping the email and webhook workers");
        let _ = stop.send(true);
        let _ = task.await;
        let _ = hooks.await;
        Ok(())
    })
}

/// Resolves on SIGTERM or SIGINT.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn preview(settings: &Settings, template: Option<&str>) -> anyhow::Result<()> {
    use crate::mail::{Template, Templates};
    let Some(name) = template else {
        for t in Template::ALL {
            let kind = if t.essential() {
                "security, always sent"
            } else {
                "optional"
            };
            println!("{} ({kind})", t.name());
        }
        return Ok(());
    };
    let Some(template) = Template::parse(name) else {
        let names: Vec<&str> = Template::ALL.iter().map(|t| t.name()).collect();
        anyhow::bail!("no template `{name}`; templates: {}", names.join(", "));
    };
    let templates = Templates::new(&settings.platform.name, &settings.platform.frontend_url)?;
    let rendered = templates.render(template, &template.example())?;
    println!("Subject: {}\n", rendered.subject);
    println!("----- text/plain -----\n{}", rendered.text);
    println!("----- text/html -----\n{}", rendered.html);
    Ok(())
}

fn migrate(settings: &Settings, revert: bool) -> anyhow::Result<()> {
    let manager = ConnectionManager::new(settings)?;
    let mut conn = manager.establish()?;
    if revert {
        match db::revert_last_migration(&mut conn)? {
            Some(name) => println!("reverted {name}"),
            None => println!("no migration to revert"),
        }
    } else {
        let applied = db::run_migrations(&mut conn)?;
        if applied.is_empty() {
            println!("database is up to date ({})", manager.target());
        }
        for name in applied {
            println!("applied {name}");
        }
    }
    Ok(())
}

/// Reads the password from the terminal (hidden) or, when stdin is not a
/// terminal, from its first line.
fn read_password(prompt: &str) -> anyhow::Result<String> {
    use std::io::{BufRead, IsTerminal};
    if std::io::stdin().is_terminal() {
        return Ok(rpassword::prompt_password(prompt)?);
    }
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

fn admin_create(settings: &Settings, email: &str) -> anyhow::Result<()> {
    use crate::auth::password;
    use crate::db::accounts::{self, NewUser};
    use crate::domain::{EmailAddress, Role};

    let email = EmailAddress::parse(email).map_err(|m| anyhow::anyhow!("--email: {m}"))?;
    let manager = ConnectionManager::new(settings)?;
    let mut conn = manager.establish()?;
    db::run_migrations(&mut conn)?;
    if let Some(user) = accounts::user_by_email(&mut conn, email.normalized())? {
        db::write_transaction(&mut conn, |conn| {
            accounts::update_admin(
                conn,
                &user.id,
                &accounts::AdminChanges {
                    role: Some(Role::Admin),
                    updated_at: Some(db::now()),
                    ..Default::default()
                },
            )?;
            // A role change ends the account's sessions, as in the API.
            accounts::bump_token_version(conn, &user.id)?;
            accounts::revoke_sessions(conn, &user.id, None, "role_change", db::now())?;
            Ok::<_, diesel::result::Error>(())
        })?;
        println!("promoted {} to admin", user.email);
        return Ok(());
    }
    let pw = read_password("Password for the new admin: ")?;
    password::check_policy(&pw, &email, &[]).map_err(|m| anyhow::anyhow!("password: {m}"))?;
    let auth = &settings.auth;
    let hasher = password::Hasher::new(
        auth.argon2_memory_kib,
        auth.argon2_iterations,
        auth.argon2_parallelism,
    )?;
    let hash = hasher.hash(&pw)?;
    let now = db::now();
    let id = uuid::Uuid::now_v7().to_string();
    let display_name = email.local_part().to_string();
    // The operator vouches for the address: the admin starts verified.
    let created = accounts::insert_user(
        &mut conn,
        &NewUser::new(&id, &email, &display_name, &hash, Role::Admin, true, now),
    )?;
    anyhow::ensure!(
        created,
        "{} was registered meanwhile; run again to promote it",
        email.as_str()
    );
    println!("created admin {} ({id})", email.as_str());
    Ok(())
}

fn events_prune(settings: &Settings, before: chrono::NaiveDate) -> anyhow::Result<()> {
    let manager = ConnectionManager::new(settings)?;
    let mut conn = manager.establish()?;
    db::run_migrations(&mut conn)?;
    let removed = db::events::prune(&mut conn, before.and_time(chrono::NaiveTime::MIN))?;
    println!(
        "removed {removed} events that occurred before {before} ({})",
        manager.target()
    );
    Ok(())
}

fn seed_demo(settings: &Settings, args: &SeedDemoArgs) -> anyhow::Result<()> {
    let manager = ConnectionManager::new(settings)?;
    let mut conn = manager.establish()?;
    db::run_migrations(&mut conn)?;
    let options = crate::demo::Options {
        resources: args.resources as usize,
        institutions: args.institutions as usize,
    };
    let s = crate::demo::seed(&mut conn, options)?;
    let [public, registered, institution, partnership] = s.visibility;
    println!(
        "seeded {} demo institutions and {} published resources in {:.1} s ({})",
        s.institutions,
        s.resources(),
        s.seconds,
        manager.target()
    );
    println!(
        "  kinds: {} courses, {} datasets, {} model cards",
        s.courses, s.datasets, s.model_cards
    );
    println!(
        "  visibility: {public} public, {registered} registered, {institution} institution, {partnership} partnership"
    );
    println!(
        "  links: {} relations, {} dataset files",
        s.relations, s.files
    );
    if let Some(id) = &s.example_course {
        println!("  example course: {id}");
    }
    if let Some(id) = &s.example_model_card {
        println!("  example model card: {id}");
    }
    if let Some(id) = &s.example_dataset {
        println!("  example dataset: {id}");
    }
    Ok(())
}
