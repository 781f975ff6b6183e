//! The `kujenga` binary: commands, settings, start-up and shutdown.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::helpers::{Backend, TestDatabase};

fn kujenga() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kujenga"));
    cmd.env_remove("DATABASE_URL")
        .env_remove("KUJENGA_CONFIG")
        .env_remove("KUJENGA_BIND")
        .env_remove("KUJENGA_DATA_DIR")
        .env("KUJENGA_LOG__LEVEL", "info")
        .stdin(Stdio::null());
    cmd
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("run kujenga")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn every_command_has_help() {
    for args in [
        vec!["--help"],
        vec!["serve", "--help"],
        vec!["migrate", "--help"],
        vec!["openapi", "--help"],
        vec!["admin", "--help"],
        vec!["admin", "create", "--help"],
        vec!["events", "prune", "--help"],
    ] {
        let out = run(kujenga().args(&args));
        assert!(out.status.success(), "{args:?}");
        assert!(text(&out.stdout).contains("Usage"), "{args:?}");
    }
    let serve = text(&run(kujenga().args(["serve", "--help"])).stdout);
    assert!(
        serve.contains("--bind") && serve.contains("KUJENGA_BIND"),
        "{serve}"
    );
    assert!(
        serve.contains("--data-dir") && serve.contains("KUJENGA_DATA_DIR"),
        "{serve}"
    );
    let migrate = text(&run(kujenga().args(["migrate", "--help"])).stdout);
    assert!(migrate.contains("--revert"));
}

#[test]
fn events_prune_removes_old_events_and_refuses_a_bad_date() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(kujenga().arg("--data-dir").arg(dir.path()).args([
        "events",
        "prune",
        "--before",
        "2020-01-01",
    ]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("removed 0 events that occurred before 2020-01-01"),
        "{}",
        text(&out.stdout)
    );
    let out = run(kujenga().arg("--data-dir").arg(dir.path()).args([
        "events",
        "prune",
        "--before",
        "last tuesday",
    ]));
    assert!(!out.status.success());
}

#[test]
fn invalid_settings_exit_2_and_name_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    let bad_file = dir.path().join("bad.toml");
    std::fs::write(&bad_file, "[database]\npool_sise = 3\n").unwrap();
    // (environment, arguments, the setting the message must name)
    type Case<'a> = (Vec<(&'a str, String)>, Vec<String>, &'a str);
    let cases: Vec<Case> = vec![
        (
            vec![("KUJENGA_DATABASE__POOL_SIZE", "many".into())],
            vec![],
            "database.pool_size",
        ),
        (vec![("KUJENGA_BIND", "localhost".into())], vec![], "bind"),
        (
            vec![("DATABASE_URL", "mysql://u:p@h/db".into())],
            vec![],
            "database_url",
        ),
        (
            vec![(
                "KUJENGA_HTTP__CORS_ALLOWED_ORIGINS",
                "[\"not a url\"]".into(),
            )],
            vec![],
            "http.cors_allowed_origins",
        ),
        (
            vec![],
            vec!["--config".into(), bad_file.display().to_string()],
            "database.pool_sise",
        ),
        (
            vec![(
                "KUJENGA_CONFIG",
                dir.path().join("missing.toml").display().to_string(),
            )],
            vec![],
            "config",
        ),
    ];
    for (env, args, setting) in cases {
        let mut cmd = kujenga();
        cmd.args(&args)
            .arg("migrate")
            .arg("--data-dir")
            .arg(dir.path());
        for (k, v) in &env {
            cmd.env(k, v);
        }
        let out = run(&mut cmd);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{setting}: {stderr}");
        assert!(
            stderr.contains(&format!("`{setting}`")),
            "{setting}: {stderr}"
        );
    }
    // The password of a bad URL is never echoed.
    let out = run(kujenga()
        .env("DATABASE_URL", "postgres://kujenga:hunter2@[::1/db")
        .arg("migrate"));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        !text(&out.stderr).contains("hunter2"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn openapi_command_prints_the_committed_document() {
    let out = run(kujenga().arg("openapi"));
    assert!(out.status.success());
    assert!(
        text(&out.stdout) == crate::helpers::openapi::committed_spec(),
        "api-spec/openapi.json is stale: regenerate it with \
         `cargo run -- openapi > api-spec/openapi.json`"
    );
}

#[test]
fn migrate_applies_and_reverts() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let migrate = |extra: &[&str]| {
        let out = run(kujenga()
            .arg("--data-dir")
            .arg(&data)
            .arg("migrate")
            .args(extra));
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stdout)
    };
    assert!(migrate(&[]).contains("applied"));
    assert!(data.join("kujenga.db").is_file());
    assert!(migrate(&[]).contains("up to date"));
    let migrations =
        std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/sqlite"))
            .unwrap()
            .count();
    for _ in 0..migrations {
        assert!(migrate(&["--revert"]).contains("reverted"));
    }
    assert!(migrate(&["--revert"]).contains("no migration to revert"));
    assert_eq!(migrate(&[]).matches("applied").count(), migrations);
}

#[test]
fn a_refused_database_fails_fast_without_the_password() {
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let out = run(kujenga()
        .env(
            "DATABASE_URL",
            "postgres://kujenga:s3cret-pw@127.0.0.1:1/kujenga",
        )
        .env("KUJENGA_DATABASE__CONNECT_TIMEOUT_SECS", "2")
        .arg("--data-dir")
        .arg(dir.path())
        .args(["serve", "--bind", "127.0.0.1:0"]));
    let elapsed = started.elapsed();
    let stderr = text(&out.stderr);
    assert!(!out.status.success());
    assert!(elapsed < Duration::from_secs(10), "took {elapsed:?}");
    assert!(stderr.contains("127.0.0.1:1"), "{stderr}");
    assert!(!stderr.contains("s3cret-pw"), "{stderr}");
}

/// A server that accepts the connection and then never answers (a
/// black-holed or hung database): start-up gives up after the connect
/// timeout instead of hanging.
#[test]
fn a_silent_database_times_out_in_seconds() {
    let tarpit = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = tarpit.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in tarpit.incoming().map_while(Result::ok) {
            held.push(stream); // never read, never answered
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let mut child = kujenga()
        .env(
            "DATABASE_URL",
            format!("postgres://kujenga:s3cret-pw@127.0.0.1:{port}/kujenga"),
        )
        .env("KUJENGA_DATABASE__CONNECT_TIMEOUT_SECS", "2")
        .arg("--data-dir")
        .arg(dir.path())
        .args(["serve", "--bind", "127.0.0.1:0"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(15) {
            let _ = child.kill();
            panic!("start-up hung on a silent database");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(!status.success());
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    assert!(stderr.contains(&format!("127.0.0.1:{port}")), "{stderr}");
    assert!(!stderr.contains("s3cret-pw"), "{stderr}");
}

/// A running `kujenga` process whose log is read line by line.
struct Server {
    child: Child,
    lines: mpsc::Receiver<String>,
    log: Vec<String>,
    port: u16,
}

impl Server {
    fn start(cmd: &mut Command) -> Self {
        let mut child = cmd
            .env("NO_COLOR", "1")
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut server = Self {
            child,
            lines,
            log: Vec::new(),
            port: 0,
        };
        let line = server.wait_for("listening on http://127.0.0.1:");
        let port = line
            .rsplit("127.0.0.1:")
            .next()
            .and_then(|p| p.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|p| p.parse().ok())
            .unwrap();
        server.port = port;
        server
    }

    fn wait_for(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            match self.lines.recv_timeout(Duration::from_millis(200)) {
                Ok(line) => {
                    self.log.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        panic!(
            "no log line with {needle:?}; log so far:\n{}",
            self.log.join("\n")
        );
    }

    fn get(&self, path: &str) -> String {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut out = String::new();
        stream.read_to_string(&mut out).unwrap();
        out
    }

    fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    fn wait_exit(&mut self, within: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("did not exit within {within:?}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn key_of(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("signing-key.json")).unwrap()
}

#[test]
fn serve_creates_its_data_folder_logs_where_things_are_and_keeps_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut server = Server::start(kujenga().arg("--data-dir").arg(&data).args([
        "serve",
        "--bind",
        "127.0.0.1:0",
    ]));
    assert_ne!(server.port, 0, "port 0 picks a free port");
    let log = server.log.join("\n");
    assert!(
        log.contains(&data.join("kujenga.db").display().to_string()),
        "{log}"
    );
    assert!(
        log.contains(&data.join("signing-key.json").display().to_string()),
        "{log}"
    );
    assert!(
        log.contains(&data.join("mail").display().to_string()),
        "{log}"
    );
    assert!(log.contains("generated a new signing key"), "{log}");
    assert!(server.get("/healthz").starts_with("HTTP/1.1 200"));
    assert!(data.join("kujenga.db").is_file());
    assert!(data.join("mail").is_dir());
    let key = key_of(&data);
    server.terminate();
    assert!(server.wait_exit(Duration::from_secs(10)).success());

    // Second start, configured by environment instead of flags: same key.
    let mut server = Server::start(
        kujenga()
            .env("KUJENGA_DATA_DIR", &data)
            .env("KUJENGA_BIND", "127.0.0.1:0"),
    );
    assert!(
        !server
            .log
            .join("\n")
            .contains("generated a new signing key")
    );
    assert!(server.get("/readyz").starts_with("HTTP/1.1 200"));
    assert_eq!(key_of(&data), key, "the signing key is reused");
    server.terminate();
    assert!(server.wait_exit(Duration::from_secs(10)).success());
}

#[test]
fn by_default_everything_lives_under_dot_data() {
    let dir = tempfile::tempdir().unwrap();
    // Only the port is overridden (8080 may be taken on a shared machine).
    let mut server = Server::start(
        kujenga()
            .current_dir(dir.path())
            .env("KUJENGA_BIND", "127.0.0.1:0"),
    );
    let log = server.log.join("\n");
    assert!(log.contains("sqlite data/kujenga.db"), "{log}");
    assert!(server.get("/readyz").starts_with("HTTP/1.1 200"));
    let data = dir.path().join("data");
    assert!(data.join("kujenga.db").is_file());
    assert!(data.join("signing-key.json").is_file());
    assert!(data.join("mail").is_dir());
    server.terminate();
    assert!(server.wait_exit(Duration::from_secs(10)).success());
}

#[test]
fn log_lines_of_a_request_carry_its_request_id() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(kujenga().arg("--data-dir").arg(dir.path()).args([
        "serve",
        "--bind",
        "127.0.0.1:0",
    ]));
    let mut stream = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    write!(
        stream,
        "GET /nope HTTP/1.1\r\nHost: x\r\nX-Request-Id: find-me-42\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    stream.read_to_string(&mut out).unwrap();
    assert!(
        out.to_ascii_lowercase()
            .contains("x-request-id: find-me-42"),
        "{out}"
    );
    let line = server.wait_for("request finished");
    assert!(
        line.contains("find-me-42") && line.contains("404"),
        "{line}"
    );
    server.terminate();
    server.wait_exit(Duration::from_secs(10));
}

#[test]
fn sigterm_lets_an_in_flight_request_finish() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(
        kujenga()
            .arg("--data-dir")
            .arg(dir.path())
            .env("KUJENGA_HTTP__SHUTDOWN_TIMEOUT_SECS", "10")
            .args(["serve", "--bind", "127.0.0.1:0"]),
    );
    // A POST whose body arrives in two halves: the server is mid-request
    // when it is told to stop.
    let mut stream = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    write!(
        stream,
        "POST /api/v1/things HTTP/1.1\r\nHost: x\r\nIdempotency-Key: shutdown-1\r\n\
         Content-Type: application/json\r\nContent-Length: 10\r\nConnection: close\r\n\r\n{{\"a\":"
    )
    .unwrap();
    stream.flush().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    server.terminate();
    std::thread::sleep(Duration::from_millis(500));
    assert!(server.child.try_wait().unwrap().is_none(), "still draining");
    stream.write_all(b" 1}").unwrap();
    stream.write_all(b"  ").unwrap();
    let mut out = String::new();
    stream.read_to_string(&mut out).unwrap();
    assert!(
        out.starts_with("HTTP/1.1 404"),
        "the request was answered: {out}"
    );
    assert!(server.wait_exit(Duration::from_secs(10)).success());
    // New connections are refused once it has stopped.
    assert!(TcpStream::connect(("127.0.0.1", server.port)).is_err());
}

#[test]
fn runs_on_postgres_with_sslmode_require() {
    if crate::helpers::skip_postgres() {
        return;
    }
    let database = TestDatabase::new(Backend::Postgres).unwrap();
    let mut url = url::Url::parse(&database.url).unwrap();
    url.query_pairs_mut().append_pair("sslmode", "require");
    // The test server trusts local connections, so any password works: it
    // must still never reach the log.
    url.set_password(Some("pw-never-logged")).unwrap();
    let url = url.to_string();
    let mut server = Server::start(
        kujenga()
            .env("DATABASE_URL", &url)
            .arg("--data-dir")
            .arg(database.data_dir())
            .args(["serve", "--bind", "127.0.0.1:0"]),
    );
    assert!(server.get("/readyz").contains("\"database\":\"postgres\""));
    server.get("/nope");
    let _ = server.wait_for("request finished");
    let log = server.log.join("\n");
    assert!(
        log.contains("postgres 127.0.0.1:5432/kujenga_test_"),
        "{log}"
    );
    assert!(!log.contains("pw-never-logged"), "{log}");
    server.terminate();
    assert!(server.wait_exit(Duration::from_secs(10)).success());

    // And the connection really is encrypted.
    use diesel::RunQueryDsl;
    let mut settings = database.settings();
    settings.database_url = Some(secrecy::SecretString::from(url));
    let manager = kujenga::db::ConnectionManager::new(&settings).unwrap();
    let kujenga::db::DbConnection::Postgres(mut conn) = manager.establish().unwrap() else {
        panic!("expected PostgreSQL");
    };
    let ssl: bool = diesel::select(diesel::dsl::sql::<diesel::sql_types::Bool>(
        "(SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid())",
    ))
    .get_result(&mut conn)
    .unwrap();
    assert!(ssl, "sslmode=require must give a TLS connection");
}

#[test]
fn mail_preview_renders_every_template() {
    let out = run(kujenga().args(["mail", "preview"]));
    assert!(out.status.success());
    let list = text(&out.stdout);
    assert!(
        list.contains("verify_email (security, always sent)"),
        "{list}"
    );
    assert!(list.contains("api_token_created (optional)"), "{list}");
    let out = run(kujenga()
        .env(
            "KUJENGA_PLATFORM__FRONTEND_URL",
            "https://learn.example.org",
        )
        .args(["mail", "preview", "verify_email"]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let page = text(&out.stdout);
    assert!(
        page.starts_with("Subject: Confirm your email address for Kujenga"),
        "{page}"
    );
    assert!(page.contains("----- text/plain -----"));
    assert!(page.contains("----- text/html -----"));
    assert!(
        page.contains("https://learn.example.org/verify-email?token="),
        "{page}"
    );
    let out = run(kujenga().args(["mail", "preview", "nope"]));
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("verify_email"),
        "lists the templates"
    );
}

/// `kujenga worker` alone delivers what is queued, and stops on SIGTERM.
#[test]
fn the_worker_command_delivers_and_stops() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // Queue an email in the database the worker will use.
    let mut settings = kujenga::config::Settings::load(
        None,
        &[],
        &kujenga::config::Overrides {
            bind: None,
            data_dir: Some(data.clone()),
        },
    )
    .unwrap();
    settings.mail.worker = false;
    let db = kujenga::db::Db::connect(&settings).unwrap();
    let outbox =
        kujenga::mail::Outbox::new(&settings.mail, "Kujenga", "http://localhost:3000").unwrap();
    let mut conn = db.pool().get().unwrap();
    outbox
        .enqueue(
            &mut conn,
            kujenga::mail::Email::new(
                "worker@example.org",
                kujenga::mail::Template::RegistrationAttempt,
                serde_json::json!({"display_name": "W"}),
            ),
        )
        .unwrap();
    drop(conn);

    let mut child = kujenga()
        .arg("--data-dir")
        .arg(&data)
        .arg("worker")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    let mail_dir = data.join("mail");
    loop {
        let delivered = std::fs::read_dir(&mail_dir)
            .map(|d| {
                d.filter_map(Result::ok)
                    .any(|e| e.path().extension().is_some_and(|x| x == "eml"))
            })
            .unwrap_or(false);
        if delivered {
            break;
        }
        assert!(Instant::now() < deadline, "the worker delivered nothing");
        std::thread::sleep(Duration::from_millis(50));
    }
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let exit = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "the worker did not stop");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success());
}
