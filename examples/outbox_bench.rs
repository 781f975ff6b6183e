//! Outbox throughput: enqueue N emails (one per transaction, as request
//! handlers do), then let W workers deliver them over SMTP to an in-process
//! sink, and print one JSON line with both rates.
//!
//! ```text
//! cargo run --release --example outbox_bench -- --database-url sqlite:///tmp/bench.db
//! cargo run --release --example outbox_bench -- --database-url postgres://postgres@127.0.0.1:5432/postgres
//! ```
//!
//! A `postgres://` URL names the *server*: a fresh database
//! `kujenga_bench_<random>` is created there and dropped at the end. A
//! `sqlite://` URL names the file to use; its outbox must be empty. See
//! `bench/README.md` for how the numbers are read.
#![allow(
    clippy::print_stdout,
    reason = "a benchmark prints its result line on standard output"
)]

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::prelude::*;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

use kujenga::config::{LogFormat, LogSettings, Overrides, Settings};
use kujenga::db::schema::outbox_emails;
use kujenga::db::{Db, DbConnection, outbox, write_transaction};
use kujenga::mail::worker::{self, Worker};
use kujenga::mail::{Email, Outbox, Template};

/// Enqueue N emails, deliver them to a local SMTP sink, report emails/s.
#[derive(Debug, Parser)]
#[command(name = "outbox_bench")]
struct Args {
    /// `sqlite://FILE`, or `postgres://…` of a server (a fresh database is
    /// created on it and dropped at the end).
    #[arg(long)]
    database_url: String,
    /// Emails to enqueue and deliver.
    #[arg(long, default_value_t = 10_000)]
    emails: u64,
    /// Worker instances, each with its own database pool and SMTP pool, as
    /// separate `kujenga worker` processes would have.
    #[arg(long, default_value_t = 2)]
    workers: u32,
    /// `mail.batch_size` (default: the setting's default).
    #[arg(long)]
    batch_size: Option<u32>,
    /// `mail.concurrency` (default: the setting's default). The SMTP pool
    /// size follows it, so every concurrent send keeps its connection.
    #[arg(long)]
    concurrency: Option<u32>,
    /// Tasks enqueueing at once, each one email per transaction, like
    /// concurrent requests.
    #[arg(long, default_value_t = 4)]
    enqueuers: u64,
    /// Give up (exit 1) if delivery is not complete after this many seconds.
    #[arg(long, default_value_t = 240)]
    timeout_secs: u64,
    /// Log filter for the library's own logs (stderr).
    #[arg(long, default_value = "warn")]
    log: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    kujenga::telemetry::init(&LogSettings {
        level: args.log.clone(),
        format: LogFormat::Text,
    });
    if args.emails == 0 || args.workers == 0 || args.enqueuers == 0 {
        bail!("--emails, --workers and --enqueuers must be at least 1");
    }

    let sink = Sink::start().await?;
    let data_dir = tempfile::tempdir().context("temp dir")?;
    let (backend, database) = Database::prepare(&args.database_url).await?;
    let result = run(
        &args,
        backend,
        &sink,
        data_dir.path().to_path_buf(),
        &database.url,
    )
    .await;
    database.drop_now().await;
    println!("{}", result?);
    Ok(())
}

async fn run(
    args: &Args,
    backend: &str,
    sink: &Sink,
    data_dir: PathBuf,
    database_url: &str,
) -> anyhow::Result<serde_json::Value> {
    // Settings the way `kujenga worker` would get them: KUJENGA_* from the
    // environment may tune anything, the bench then fixes what it must.
    let mut env: Vec<(String, String)> = std::env::vars()
        .filter(|(k, _)| k.starts_with("KUJENGA_"))
        .collect();
    let mut set = |k: &str, v: String| env.push((k.to_string(), v));
    set("DATABASE_URL", database_url.to_string());
    set("KUJENGA_MAIL__TRANSPORT", "smtp".into());
    set("KUJENGA_MAIL__SMTP__HOST", "127.0.0.1".into());
    set("KUJENGA_MAIL__SMTP__PORT", sink.port.to_string());
    set("KUJENGA_MAIL__SMTP__SECURITY", "none".into());
    if let Some(b) = args.batch_size {
        set("KUJENGA_MAIL__BATCH_SIZE", b.to_string());
    }
    if let Some(c) = args.concurrency {
        set("KUJENGA_MAIL__CONCURRENCY", c.to_string());
    }
    let mut settings = Settings::load(
        None,
        &env,
        &Overrides {
            bind: None,
            data_dir: Some(data_dir),
        },
    )?;
    settings.mail.smtp.pool_size = settings.mail.concurrency;
    let settings = Arc::new(settings);

    // One pool for the enqueuers (the "web" side), one per worker instance.
    let web = connect(&settings).await?;
    let before = counts(&web).await?;
    if before.values().any(|n| *n > 0) {
        bail!("the outbox is not empty ({before:?}): give the bench a fresh database");
    }
    let mut workers: Vec<Worker> = Vec::new();
    for _ in 0..args.workers {
        let db = connect(&settings).await?;
        workers.push(worker::build(&db, &settings, None)?);
    }

    // Enqueue: `enqueuers` tasks, one email per write transaction.
    let outbox = Arc::new(Outbox::new(
        &settings.mail,
        &settings.platform.name,
        &settings.platform.frontend_url,
    )?);
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..args.enqueuers {
        let (db, outbox, next, total) = (web.clone(), outbox.clone(), next.clone(), args.emails);
        tasks.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    return Ok::<_, anyhow::Error>(());
                }
                let outbox = outbox.clone();
                let email = Email::new(
                    format!("reader{i}@example.org"),
                    Template::VerifyEmail,
                    serde_json::json!({
                        "display_name": format!("Reader {i}"),
                        "token": format!("bench-token-{i:08}"),
                        "expires_in_hours": 48,
                    }),
                );
                db.run(move |conn| write_transaction(conn, |conn| outbox.enqueue(conn, email)))
                    .await
                    .map_err(|e| anyhow::anyhow!("enqueue {i}: {e}"))?;
            }
        });
    }
    while let Some(joined) = tasks.join_next().await {
        joined??;
    }
    let enqueue_seconds = started.elapsed().as_secs_f64();
    let queued = counts(&web).await?;
    if queued.get(outbox::QUEUED).copied() != Some(to_i64(args.emails)) {
        bail!("after enqueueing, the outbox holds {queued:?}");
    }
    eprintln!(
        "outbox_bench: enqueued {} emails in {enqueue_seconds:.2} s; delivering with {} workers",
        args.emails, args.workers
    );

    // Deliver: run the workers until the sink has every Message-ID and
    // every row is `sent`.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.timeout_secs);
    let running: Vec<_> = workers
        .into_iter()
        .map(|w| tokio::spawn(w.run(stopped.clone())))
        .collect();
    let wanted = usize::try_from(args.emails)?;
    let outcome: anyhow::Result<()> = async {
        while sink.distinct() < wanted {
            if Instant::now() > deadline {
                bail!(
                    "timed out: the sink has {} of {wanted} emails",
                    sink.distinct()
                );
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        loop {
            let now = counts(&web).await?;
            let sent = now.get(outbox::SENT).copied().unwrap_or(0);
            if sent == to_i64(args.emails) && now.len() == 1 {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("timed out: the outbox holds {now:?}");
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    .await;
    let deliver_seconds = started.elapsed().as_secs_f64();
    let _ = stop.send(true);
    for task in running {
        let _ = task.await;
    }
    outcome?;

    // Every Message-ID the sink saw is one of ours, and every email was
    // delivered in one attempt.
    let (ids, attempts): (Vec<String>, Vec<i32>) = web
        .run(|conn: &mut DbConnection| {
            outbox_emails::table
                .select((outbox_emails::message_id, outbox_emails::attempts))
                .load::<(String, i32)>(conn)
                .map(|rows| rows.into_iter().unzip())
        })
        .await?;
    let ours: HashSet<String> = ids.into_iter().collect();
    let unknown = sink.ids().difference(&ours).count();
    if unknown > 0 {
        bail!("the sink received {unknown} Message-IDs that are not in the outbox");
    }
    let extra_attempts: i64 = attempts.iter().map(|a| i64::from(*a) - 1).sum();

    Ok(json!({
        "backend": backend,
        "emails": args.emails,
        "workers": args.workers,
        "batch_size": settings.mail.batch_size,
        "concurrency": settings.mail.concurrency,
        "enqueuers": args.enqueuers,
        "enqueue_seconds": round3(enqueue_seconds),
        "enqueue_per_sec": round1(args.emails as f64 / enqueue_seconds),
        "deliver_seconds": round3(deliver_seconds),
        "deliver_per_sec": round1(args.emails as f64 / deliver_seconds),
        "duplicates": sink.duplicates(),
        "extra_attempts": extra_attempts,
    }))
}

async fn connect(settings: &Arc<Settings>) -> anyhow::Result<Db> {
    let settings = settings.clone();
    tokio::task::spawn_blocking(move || Db::connect(&settings)).await?
}

async fn counts(db: &Db) -> anyhow::Result<std::collections::BTreeMap<String, i64>> {
    let rows = db.run(outbox::counts).await?;
    Ok(rows.into_iter().filter(|(_, n)| *n > 0).collect())
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// The database the bench runs on: the SQLite file as given, or a fresh
/// PostgreSQL database that is dropped at the end.
struct Database {
    url: String,
    /// (server URL, database name) when we created it.
    created: Option<(String, String)>,
}

impl Database {
    async fn prepare(url: &str) -> anyhow::Result<(&'static str, Self)> {
        if url.starts_with("sqlite://") {
            return Ok((
                "sqlite",
                Self {
                    url: url.to_string(),
                    created: None,
                },
            ));
        }
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            bail!("--database-url must start with sqlite:// or postgres://");
        }
        let name = format!("kujenga_bench_{:016x}", rand::random::<u64>());
        let server = url.to_string();
        let create = format!("CREATE DATABASE {name}");
        tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
            let mut conn = PgConnection::establish(&server)
                .map_err(|e| anyhow::anyhow!("cannot connect to PostgreSQL: {e}"))?;
            conn.batch_execute(&create)?;
            Ok(())
        })
        .await??;
        let mut db_url = url::Url::parse(url)?;
        db_url.set_path(&name);
        eprintln!("outbox_bench: created PostgreSQL database {name}");
        Ok((
            "postgres",
            Self {
                url: db_url.to_string(),
                created: Some((url.to_string(), name)),
            },
        ))
    }

    async fn drop_now(self) {
        let Some((server, name)) = self.created else {
            return;
        };
        let dropped = tokio::task::spawn_blocking(move || -> anyhow::Result<String> {
            let mut conn = PgConnection::establish(&server)?;
            conn.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))?;
            Ok(name)
        })
        .await;
        match dropped {
            Ok(Ok(name)) => eprintln!("outbox_bench: dropped PostgreSQL database {name}"),
            Ok(Err(e)) => eprintln!("outbox_bench: could not drop the bench database: {e}"),
            Err(e) => eprintln!("outbox_bench: could not drop the bench database: {e}"),
        }
    }
}

/// A minimal SMTP server that accepts everything and counts Message-IDs.
/// Kept small so that it is not what the bench measures: no parsing beyond
/// the command word and the Message-ID header, one task per connection.
struct Sink {
    port: u16,
    state: Arc<SinkState>,
    task: tokio::task::JoinHandle<()>,
}

#[derive(Default)]
struct SinkState {
    ids: Mutex<HashSet<String>>,
    distinct: AtomicU64,
    duplicates: AtomicU64,
}

impl Sink {
    async fn start() -> anyhow::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let port = listener.local_addr()?.port();
        let state = Arc::new(SinkState::default());
        let shared = state.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let state = shared.clone();
                tokio::spawn(async move {
                    if let Err(e) = session(stream, &state).await {
                        tracing::warn!(error = %e, "sink session failed");
                    }
                });
            }
        });
        Ok(Self { port, state, task })
    }

    fn distinct(&self) -> usize {
        usize::try_from(self.state.distinct.load(Ordering::Acquire)).unwrap_or(usize::MAX)
    }

    fn duplicates(&self) -> u64 {
        self.state.duplicates.load(Ordering::Acquire)
    }

    fn ids(&self) -> HashSet<String> {
        self.state
            .ids
            .lock()
            .map(|ids| ids.clone())
            .unwrap_or_default()
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn session(stream: TcpStream, state: &SinkState) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let mut conn = BufReader::with_capacity(64 * 1024, stream);
    conn.get_mut().write_all(b"220 sink ESMTP\r\n").await?;
    let mut line = Vec::with_capacity(1024);
    loop {
        line.clear();
        if conn.read_until(b'\n', &mut line).await? == 0 {
            return Ok(());
        }
        let verb = line.get(..4).unwrap_or(&line).to_ascii_uppercase();
        let reply: &[u8] = match verb.as_slice() {
            b"EHLO" => b"250-sink\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n",
            b"DATA" => {
                conn.get_mut().write_all(b"354 go ahead\r\n").await?;
                let mut message_id = None;
                let mut in_headers = true;
                loop {
                    line.clear();
                    if conn.read_until(b'\n', &mut line).await? == 0 {
                        return Ok(());
                    }
                    if line == b".\r\n" || line == b".\n" {
                        break;
                    }
                    if in_headers {
                        if line == b"\r\n" || line == b"\n" {
                            in_headers = false;
                        } else if line.len() > 11 && line[..11].eq_ignore_ascii_case(b"message-id:")
                        {
                            message_id =
                                Some(String::from_utf8_lossy(&line[11..]).trim().to_string());
                        }
                    }
                }
                match message_id {
                    Some(id) => state.record(id),
                    None => tracing::warn!("sink: a message without Message-ID"),
                }
                b"250 OK\r\n"
            }
            b"QUIT" => {
                conn.get_mut().write_all(b"221 bye\r\n").await?;
                return Ok(());
            }
            // MAIL, RCPT, RSET, NOOP, HELO: all fine.
            _ => b"250 OK\r\n",
        };
        conn.get_mut().write_all(reply).await?;
    }
}

impl SinkState {
    fn record(&self, id: String) {
        let new = match self.ids.lock() {
            Ok(mut ids) => ids.insert(id),
            Err(_) => false,
        };
        if new {
            self.distinct.fetch_add(1, Ordering::AcqRel);
        } else {
            self.duplicates.fetch_add(1, Ordering::AcqRel);
        }
    }
}
