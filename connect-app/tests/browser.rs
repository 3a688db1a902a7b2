//! A real browser: Debian's headless Chromium, driven by npm `playwright-core`
//! (`tests/browser/driver.js`), loads the panel with a `jwt` signed by npm `atlassian-jwt`;
//! the page's button calls the app's API with the page's session token and shows the user;
//! a signed `user_deleted` webhook arrives; the next click shows "access revoked", without a
//! reload. Atlassian's `all.js` is unreachable (the driver fails its request). Screenshots of
//! both states go to `target/browser/`. Once with one instance (revocations in memory), once
//! with two sharing Redis (the page on one, the webhook to the other).
//!
//! Needs node, `npm ci --prefix connect-app/tests/browser` and `/usr/bin/chromium` (`bash
//! .ci/browser` sets them up); skips loudly without them, fails under `REQUIRE_BROWSER=1`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use serde_json::{json, Value};
use support::*;

const USER: &str = "557058:ada";

fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

/// Where the screenshots go: `target/browser/` of the workspace.
fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"),
        PathBuf::from,
    );
    target.join("browser")
}

/// The browser, through `driver.js`; closed (and Chromium with it) on drop.
struct Browser {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Browser {
    /// The driver, or `None` after a loud SKIPPED banner (a failure under
    /// `REQUIRE_BROWSER=1`).
    fn start_or_skip(what: &str) -> Option<Self> {
        let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned());
        let driver = browser_dir().join("node_modules/playwright-core/package.json");
        let problem = if !Path::new(&chromium).is_file() {
            Some(format!("{chromium} is missing (apt-get install chromium)"))
        } else if !driver.is_file() {
            Some(format!(
                "{} is missing (npm ci --prefix connect-app/tests/browser)",
                driver.display()
            ))
        } else if !Command::new("node")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
        {
            Some("node is not runnable".to_owned())
        } else {
            None
        };
        if let Some(why) = problem {
            let message = format!("{what} needs a browser (bash .ci/browser): {why}");
            assert!(
                std::env::var("REQUIRE_BROWSER").as_deref() != Ok("1"),
                "REQUIRE_BROWSER=1 but {message}"
            );
            eprintln!("\n{0}\nSKIPPED: {message}\n{0}\n", "!".repeat(78));
            return None;
        }
        let mut child = Command::new("node")
            .arg(browser_dir().join("driver.js"))
            .env("CHROMIUM", &chromium)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Some(Self {
            child,
            stdin,
            stdout,
        })
    }

    fn call(&mut self, input: Value) -> Value {
        writeln!(self.stdin, "{input}").unwrap();
        self.stdin.flush().unwrap();
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        let output: Value =
            serde_json::from_str(&line).unwrap_or_else(|_| panic!("driver: {line:?}"));
        assert_eq!(output["ok"], true, "driver: {output}");
        output
    }

    /// `(state, text)` of the page's result line.
    fn open(&mut self, url: &str) -> Value {
        self.call(json!({"op": "open", "url": url}))
    }

    fn click(&mut self) -> Value {
        self.call(json!({"op": "click"}))
    }

    fn screenshot(&mut self, name: &str) -> PathBuf {
        let path = screenshot_dir().join(name);
        let _ = std::fs::remove_file(&path);
        self.call(json!({"op": "screenshot", "path": path}));
        let size = std::fs::metadata(&path).unwrap().len();
        assert!(size > 1000, "{} is {size} bytes", path.display());
        eprintln!("screenshot: {}", path.display());
        path
    }

    /// Closes the browser; what the page logged and the requests that failed.
    fn close(mut self) -> Value {
        let out = self.call(json!({"op": "close"}));
        let _ = self.child.wait();
        out
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The page as the user sees it: signed in, then revoked after `revoke` runs, no reload.
async fn click_revoke_click(
    atlassian: &Atlassian,
    mut browser: Browser,
    page_app: &str,
    webhook_app: &str,
    tenant: &Tenant,
    name: &str,
) {
    let opened = browser.open(&atlassian.panel_url(page_app, tenant, Some(USER)));
    assert_eq!(
        opened["greeting"],
        format!("Hello, {DISPLAY_NAME}!"),
        "{opened}"
    );
    assert_eq!(opened["state"], "idle", "{opened}");

    let first = browser.click();
    assert_eq!(
        (first["state"].as_str(), first["text"].as_str()),
        (
            Some("ok"),
            Some(format!("Signed in as {USER} (tenant {})", tenant.client_key).as_str())
        ),
        "{first}"
    );
    let ok = browser.screenshot(&format!("panel-{name}-signed-in.png"));

    assert_eq!(
        atlassian.user_deleted(webhook_app, tenant, USER).await,
        Answer::no_content()
    );
    // The next click, same page: access revoked.
    let second = browser.click();
    assert_eq!(
        (second["state"].as_str(), second["text"].as_str()),
        (Some("revoked"), Some("access revoked")),
        "{second}"
    );
    assert_eq!(second["navigations"], 1, "the page was reloaded: {second}");
    let revoked = browser.screenshot(&format!("panel-{name}-revoked.png"));
    assert_ne!(
        std::fs::read(&ok).unwrap(),
        std::fs::read(&revoked).unwrap()
    );

    let closed = browser.close();
    // all.js could not load, and nothing else failed.
    let failed: Vec<&str> = closed["failed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(
        failed,
        ["https://connect-cdn.atl-paas.net/all.js"],
        "{closed}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_panel_in_chromium_shows_the_user_then_access_revoked() {
    let Some(browser) = Browser::start_or_skip("the browser test") else {
        return;
    };
    let Some(atlassian) = Atlassian::start("the browser test").await else {
        return;
    };
    let app = atlassian.app(&atlassian.sqlite("browser.db"), &[]).await;
    let tenant = Tenant::new("jira:browser", "browser-shared-secret-0123456789abcdef0");
    atlassian
        .install(&app.base_url, &tenant, &atlassian.keys)
        .await;
    click_revoke_click(
        &atlassian,
        browser,
        &app.base_url,
        &app.base_url,
        &tenant,
        "memory",
    )
    .await;
    app.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_panel_in_chromium_with_two_instances_on_redis() {
    let Some(browser) = Browser::start_or_skip("the browser test on Redis") else {
        return;
    };
    let Some(redis) = Redis::start_or_skip("the browser test on Redis").await else {
        return;
    };
    let Some(atlassian) = Atlassian::start("the browser test on Redis").await else {
        return;
    };
    let url = redis.url();
    let env = [("CONNECT_APP_REDIS_URL", url.as_str())];
    let a = atlassian.app(&atlassian.sqlite("browser-a.db"), &env).await;
    let b = atlassian.app(&atlassian.sqlite("browser-b.db"), &env).await;
    let tenant = Tenant::new(
        "jira:browser-redis",
        "browser-redis-secret-0123456789abcdef0",
    );
    atlassian
        .install(&a.base_url, &tenant, &atlassian.keys)
        .await;
    atlassian
        .install(&b.base_url, &tenant, &atlassian.keys)
        .await;
    // The page from B, the webhook to A.
    click_revoke_click(
        &atlassian,
        browser,
        &b.base_url,
        &a.base_url,
        &tenant,
        "redis",
    )
    .await;
    a.stop();
    b.stop();
}
