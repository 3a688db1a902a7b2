//! The PostgreSQL server of the tests: `TEST_POSTGRES_URL` (see `.ci/services`), one fresh
//! schema per test so tests running in parallel never see each other's rows, and a throwaway
//! server of a test's own that it may stop and start.

use std::env;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio_postgres::{Client, NoTls};

/// `TEST_POSTGRES_URL`, or `None` after a loud SKIPPED banner naming `what`; panics instead
/// when `REQUIRE_POSTGRES=1`.
pub fn url_or_skip(what: &str) -> Option<String> {
    if let Ok(url) = env::var("TEST_POSTGRES_URL") {
        if !url.is_empty() {
            return Some(url);
        }
    }
    skip(
        what,
        "TEST_POSTGRES_URL is not set (run `eval \"$(bash .ci/services)\"` first)",
    );
    None
}

fn skip(what: &str, why: &str) {
    let message = format!("{what} needs a PostgreSQL server: {why}");
    assert!(
        env::var("REQUIRE_POSTGRES").as_deref() != Ok("1"),
        "REQUIRE_POSTGRES=1 but {message}"
    );
    eprintln!("\n{0}\nSKIPPED: {message}\n{0}\n", "!".repeat(78));
}

/// A raw client (not the store's) on `url`.
pub async fn raw_client(url: &str) -> Client {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await.unwrap();
    tokio::spawn(connection);
    client
}

/// A schema of its own in the test database, and the URL that makes it the store's
/// `search_path`.
pub struct Schema {
    pub name: String,
    pub url: String,
    admin: Client,
}

impl Schema {
    pub async fn create(base_url: &str) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let name = format!(
            "t_{}_{}_{nanos}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        let admin = raw_client(base_url).await;
        admin
            .batch_execute(&format!("CREATE SCHEMA {name}"))
            .await
            .unwrap();
        let separator = if base_url.contains('?') { '&' } else { '?' };
        let url = format!("{base_url}{separator}options=-csearch_path%3D{name}");
        Self { name, url, admin }
    }

    /// Rows in the schema's tenant table.
    pub async fn rows(&self) -> usize {
        let count: i64 = self
            .admin
            .query_one(
                &format!("SELECT count(*) FROM {}.connect_tenants", self.name),
                &[],
            )
            .await
            .unwrap()
            .get(0);
        usize::try_from(count).unwrap()
    }

    /// The raw client, for statements in the schema (names qualified with [`name`](Self::name)).
    pub fn admin(&self) -> &Client {
        &self.admin
    }

    pub async fn drop_schema(self) {
        self.admin
            .batch_execute(&format!("DROP SCHEMA {} CASCADE", self.name))
            .await
            .unwrap();
    }
}

/// A PostgreSQL server of the test's own, in a temporary directory on a free port, that the
/// test may stop and start without disturbing the shared server. Stopped and removed on drop.
pub struct Throwaway {
    bin: PathBuf,
    data: tempfile::TempDir,
    pub port: u16,
}

impl Throwaway {
    /// `None` (after the banner) when the server's binaries cannot be found.
    pub fn start(what: &str) -> Option<Self> {
        let Some(bin) = server_bin() else {
            skip(what, "no initdb/pg_ctl (set TEST_POSTGRES_BIN)");
            return None;
        };
        let data = tempfile::Builder::new()
            .prefix("connect-jwt-pg-")
            .tempdir()
            .unwrap();
        if is_root() {
            // initdb refuses to run as root: the cluster belongs to `postgres`.
            run(Command::new("chown").arg("postgres").arg(data.path()));
        }
        let port = free_port();
        let server = Self { bin, data, port };
        run(server
            .command("initdb")
            .args(["-A", "trust", "-U", "postgres", "--no-sync", "-D"])
            .arg(server.pgdata()));
        server.start_again();
        Some(server)
    }

    fn pgdata(&self) -> PathBuf {
        self.data.path().join("data")
    }

    fn command(&self, program: &str) -> Command {
        let program = self.bin.join(program);
        if is_root() {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        } else {
            Command::new(program)
        }
    }

    /// The URL of a port nothing listens on.
    pub fn free_port_url() -> String {
        format!("postgres://nobody@127.0.0.1:{}/nothing", free_port())
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Starts the server and waits until it accepts connections.
    pub fn start_again(&self) {
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {} -k {} -c fsync=off",
            self.port,
            self.data.path().display()
        );
        run(self
            .command("pg_ctl")
            .args(["-w", "-l"])
            .arg(self.data.path().join("log"))
            .arg("-D")
            .arg(self.pgdata())
            .args(["-o", &options, "start"]));
    }

    /// Stops the server (fast: open connections are ended).
    pub fn stop(&self) {
        run(self
            .command("pg_ctl")
            .args(["-w", "-m", "fast", "-D"])
            .arg(self.pgdata())
            .arg("stop"));
    }
}

impl Drop for Throwaway {
    fn drop(&mut self) {
        let _ = self
            .command("pg_ctl")
            .args(["-w", "-m", "immediate", "-D"])
            .arg(self.pgdata())
            .arg("stop")
            .output();
    }
}

fn server_bin() -> Option<PathBuf> {
    let has_tools = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();
    if let Ok(dir) = env::var("TEST_POSTGRES_BIN") {
        let dir = PathBuf::from(dir);
        return has_tools(&dir).then_some(dir);
    }
    // Debian's layout: /usr/lib/postgresql/<version>/bin, the newest first.
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|entry| Some(entry.ok()?.path().join("bin")))
        .filter(|dir| has_tools(dir))
        .collect();
    dirs.sort();
    dirs.pop()
}

fn is_root() -> bool {
    let out = Command::new("id").arg("-u").output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim() == "0"
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn run(command: &mut Command) {
    let out = command.output().unwrap();
    assert!(
        out.status.success(),
        "{command:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
