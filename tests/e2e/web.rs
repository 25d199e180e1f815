//! The members' web page in a real browser: headless Chromium, driven through
//! chromedriver (Debian's `chromium` and `chromium-driver`; `scripts/test.sh` installs
//! them). A member loads their key, votes, changes the vote and sees the tally change,
//! signs a recall petition, and is warned when the operator puts back an old log.
//! Screenshots go to `target/tmp/web/` for people to look at.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

use crate::members::{copy_dir, found, motion_id, RANKED_ASSEMBLY};
use crate::util::Daemon;

struct Driver {
    child: Child,
    port: u16,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// chromedriver on a free port of loopback, or `None` when the test is skipped on
/// purpose (COUNCILNET_SKIP_BROWSER=1).
fn chromedriver() -> Option<Driver> {
    if std::env::var_os("COUNCILNET_SKIP_BROWSER").is_some() {
        eprintln!("skipped: COUNCILNET_SKIP_BROWSER is set");
        return None;
    }
    let bin = std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into());
    let port = free_port();
    let child = Command::new(&bin)
        .args([format!("--port={port}"), "--allowed-ips=127.0.0.1".into()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot start {bin} ({e}): the web page's test needs Chromium and its driver. \
                 scripts/test.sh installs them (apt-get install chromium chromium-driver); \
                 COUNCILNET_SKIP_BROWSER=1 skips this test"
            )
        });
    let d = Driver { child, port };
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "chromedriver did not come up");
        std::thread::sleep(Duration::from_millis(50));
    }
    Some(d)
}

async fn browser(d: &Driver) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            // A phone-sized window.
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=412,915"],
        }),
    );
    // The node's certificate is self-signed: a member clicks through the browser's
    // warning after comparing the fingerprint; the test takes it as accepted.
    caps.insert("acceptInsecureCerts".into(), json!(true));
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{}", d.port))
        .await
        .expect("chromedriver starts a browser")
}

/// Waits until the element's text satisfies `ok`.
async fn wait_text(c: &Client, css: &str, what: &str, ok: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(e) = c.find(Locator::Css(css)).await {
            if let Ok(t) = e.text().await {
                if ok(&t) {
                    return t;
                }
            }
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what} ({css})");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until the form field `css` has a value, and returns it.
async fn wait_value(c: &Client, css: &str, what: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(e) = c.find(Locator::Css(css)).await {
            if let Ok(Some(v)) = e.prop("value").await {
                if !v.is_empty() {
                    return v;
                }
            }
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what} ({css})");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn click(c: &Client, css: &str) {
    let e = c
        .wait()
        .at_most(Duration::from_secs(60))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"));
    e.click().await.unwrap_or_else(|e| panic!("click {css}: {e}"));
}

async fn sign_in(c: &Client, url: &str, key_file: &Path) {
    c.goto(url).await.unwrap();
    let key = std::fs::read_to_string(key_file).unwrap();
    let t = c.wait().for_element(Locator::Css("#key-text")).await.unwrap();
    t.send_keys(key.trim()).await.unwrap();
    click(c, "#sign-in-button").await;
    wait_text(c, "#whoami", "signed in", |t| t.starts_with("Signed in as")).await;
}

async fn shot(c: &Client, dir: &Path, name: &str) {
    let png = c.screenshot().await.unwrap();
    std::fs::write(dir.join(name), png).unwrap();
}

fn screenshots() -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join("web");
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn a_member_votes_changes_the_vote_and_signs_a_petition_in_chromium() {
    let Some(driver) = chromedriver() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let (data, devs) = found(tmp.path());
    // A fixed port: the browser keeps receipts per origin, across the node's restarts.
    let port = free_port().to_string();
    let addr = format!("127.0.0.1:{port}");
    let start = || Daemon::start_with(&data, &["--members-listen", &addr]);
    let url = format!("http://{addr}/");
    let d = start();
    let (a, b, c) = (&devs[0], &devs[1], &devs[2]);

    // Through the CLI: a motion, and a mandate for C that A and B pass.
    let m =
        motion_id(&a.council(&url, &["motion", "open", "--title", "Adopt the summer rota", "--closes-in", "1h"]).ok());
    let fed = "ab".repeat(32);
    let args = ["mandate", "--delegate", &c.did, "--federation", &fed, "--matter", "wages", "--closes-in", "1h"];
    let mandate = motion_id(&a.council(&url, &args).ok());
    a.council(&url, &["vote", "--final", &mandate[..8], "yes"]).ok();
    b.council(&url, &["vote", "--final", &mandate[..8], "yes"]).ok();
    // The operator keeps a copy of the store from before the browser's votes.
    d.stop();
    let old = tmp.path().join("store-before-browser");
    copy_dir(&data.join("store"), &old);
    let d = start();

    let dir = screenshots();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let cl = browser(&driver).await;
        let fresh = Instant::now();
        sign_in(&cl, &url, &b.key).await;
        shot(&cl, &dir, "1-signed-in.png").await;

        // Vote yes, see the tally; change to no, see it change.
        let motion = format!("[data-motion='{m}']");
        click(&cl, &format!("{motion} button[data-choice='yes']")).await;
        wait_text(&cl, &format!("{motion} .count[data-option='yes']"), "the yes vote counted", |t| t == "1").await;
        let first_vote = fresh.elapsed();
        // Who has voted and who has not, by name where given.
        wait_text(&cl, &format!("{motion} .voters"), "who voted", |t| {
            t.starts_with("Voted: member") && t.contains("Not yet: member")
        })
        .await;
        wait_text(&cl, "#status", "the receipt", |t| t.contains("Vote recorded")).await;
        shot(&cl, &dir, "2-voted-yes.png").await;
        click(&cl, &format!("{motion} button[data-choice='no']")).await;
        wait_text(&cl, &format!("{motion} .count[data-option='no']"), "the changed vote counted", |t| t == "1").await;
        wait_text(&cl, &format!("{motion} .count[data-option='yes']"), "the old vote gone", |t| t == "0").await;
        wait_text(&cl, &format!("{motion} .mine"), "my vote shown", |t| t.contains("Your vote: no")).await;
        shot(&cl, &dir, "3-changed-to-no.png").await;
        // B makes the "no" final: the page says so and offers no more choices.
        click(&cl, &format!("{motion} input[data-final]")).await;
        click(&cl, &format!("{motion} button[data-choice='no']")).await;
        wait_text(&cl, &format!("{motion} .mine"), "my final vote shown", |t| t.contains("It is final")).await;
        let choices = cl.find_all(Locator::Css(&format!("{motion} button[data-choice]"))).await.unwrap();
        assert!(choices.is_empty(), "a final ballot is offered for change");

        // Sign the petition to recall C's mandate.
        click(&cl, &format!("[data-sign-petition='{mandate}']")).await;
        wait_text(&cl, &format!("[data-petition='{mandate}']"), "the petition signature", |t| {
            t.contains("1 signature")
        })
        .await;
        shot(&cl, &dir, "4-petition-signed.png").await;

        // B gives their name; the page shows it, and so does the CLI.
        let name = cl.find(Locator::Css("#my-name")).await.unwrap();
        name.send_keys("Bea Ortiz").await.unwrap();
        click(&cl, "#name-form button").await;
        wait_text(&cl, "#members", "the name in the roster", |t| t.contains("Bea Ortiz (")).await;
        wait_text(&cl, "#whoami", "the name in the header", |t| t.contains("Bea Ortiz")).await;
        let status = a.council(&url, &["status"]).ok();
        assert!(status.stdout.contains("Bea Ortiz ("), "{}", status.stdout);

        // B adds a phone from the page, its secret never leaving the phone: the laptop
        // shows a link code, the phone (a second browser, not signed in) makes its key and
        // its request, the laptop adds it, and the phone signs in as B.
        click(&cl, "#add-device").await;
        wait_text(&cl, "#status", "the link code", |t| t.contains("Link code ready")).await;
        let code = cl.find(Locator::Css("#link-code-out")).await.unwrap().prop("value").await.unwrap().unwrap();
        assert!(code.starts_with("councilnet-link:"), "{code}");
        let qr = cl.find(Locator::Css("#device-box svg.qr")).await.unwrap();
        assert_eq!(qr.attr("aria-label").await.unwrap().as_deref(), Some("QR code of the link code"));
        let phone = browser(&driver).await;
        phone.goto(&url).await.unwrap();
        click(&phone, "details:nth-of-type(2) summary").await;
        phone.find(Locator::Css("#link-code")).await.unwrap().send_keys(&code).await.unwrap();
        click(&phone, "#make-request").await;
        let request = wait_value(&phone, "#device-request-out", "the phone's request").await;
        assert!(request.starts_with("councilnet-device:did:key:z6Mk"), "{request}");
        cl.find(Locator::Css("#device-request-in")).await.unwrap().send_keys(&request).await.unwrap();
        click(&cl, "#add-requested-device").await;
        wait_text(&cl, "#status", "the device added", |t| t.contains("votes as you")).await;
        shot(&cl, &dir, "4b-device-added.png").await;
        click(&phone, "#sign-in-button").await;
        wait_text(&phone, "#whoami", "the phone signed in as B", |t| t.contains("Bea Ortiz")).await;
        phone.close().await.unwrap();
        let status = a.council(&url, &["status"]).ok();
        assert!(status.stdout.contains("Bea Ortiz (") && status.stdout.contains("2 devices"), "{}", status.stdout);
        click(&cl, "[data-remove-device]").await;
        wait_text(&cl, "#status", "the device removed", |t| t.contains("removed (log entry")).await;
        let status = a.council(&url, &["status"]).ok();
        assert!(!status.stdout.contains("2 devices"), "{}", status.stdout);

        // What the node has, the CLI sees too: B's ballot is "no".
        let shown = b.council(&url, &["--json", "motion", "show", &m[..8]]).ok().json();
        assert_eq!(shown["counts"], json!([0, 1, 0]), "{shown}");
        assert_eq!(shown["my_ballot"]["final"], true, "{shown}");

        // The operator puts back the old store. B opens the page again: warned.
        d.stop();
        std::fs::remove_dir_all(data.join("store")).unwrap();
        copy_dir(&old, &data.join("store"));
        let d = start();
        sign_in(&cl, &url, &b.key).await;
        let warning = wait_text(&cl, "#fork-warning", "the warning", |t| t.contains("broke its word")).await;
        assert!(warning.contains("is gone"), "{warning}");
        assert!(cl.find(Locator::Css("#fork-warning")).await.unwrap().is_displayed().await.unwrap());
        shot(&cl, &dir, "5-rewritten-log-warning.png").await;
        cl.close().await.unwrap();
        d.stop();

        let page = page_bytes();
        let report = format!(
            "page: {page} bytes (all files); time to first vote from a fresh browser: {} ms\n",
            first_vote.as_millis()
        );
        std::fs::write(dir.join("measurements.txt"), &report).unwrap();
        eprintln!("{report}screenshots in {}", dir.display());
    });
}

/// The page's size: the files it is made of, as embedded in councild.
fn page_bytes() -> usize {
    let web = Path::new(env!("CARGO_MANIFEST_DIR")).join("../council-node/web");
    ["index.html", "app.js", "style.css", "vendor/nacl.min.js"]
        .iter()
        .map(|f| std::fs::metadata(web.join(f)).unwrap().len() as usize)
        .sum()
}

#[test]
fn the_page_is_served_with_a_strict_policy() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, _devs) = found(tmp.path());
    let d = Daemon::start(&data);
    let url = crate::members::members_url(&data);
    for path in ["/", "/app.js", "/style.css", "/vendor/nacl.min.js", "/vendor/sha256.min.js", "/vendor/qrcode.js"] {
        let r = ureq::get(&format!("{url}{path}")).call().unwrap();
        assert_eq!(r.status(), 200);
        let csp = r.header("content-security-policy").unwrap_or("").to_owned();
        assert!(csp.contains("default-src 'none'") && csp.contains("connect-src 'self'"), "{path}: {csp}");
        assert_eq!(r.header("x-frame-options"), Some("DENY"));
    }
    // The page needs no session; the data does.
    assert!(matches!(ureq::get(&format!("{url}/v1/council")).call(), Err(ureq::Error::Status(401, _))));
    d.stop();
}

/// A ranked motion on a phone: the member moves an option up, votes that order, sees
/// the first choices counted, then makes the ranking final. The node decodes the page's
/// ranking record, and the CLI reads it back.
#[test]
fn a_member_ranks_the_options_in_chromium() {
    let Some(driver) = chromedriver() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let (data, devs) = found(tmp.path());
    let d = Daemon::start_with(&data, &["--members-listen", "127.0.0.1:0"]);
    let url = format!("http://{}/", std::fs::read_to_string(data.join("members-addr")).unwrap().trim());
    let (a, b) = (&devs[0], &devs[1]);
    let m = motion_id(&a.council(&url, &RANKED_ASSEMBLY).ok());
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let cl = browser(&driver).await;
        sign_in(&cl, &url, &b.key).await;
        let motion = format!("[data-motion='{m}']");
        // hall up twice: hall, canteen, yard.
        click(&cl, &format!("{motion} [data-option='hall'] button[aria-label='Move hall up']")).await;
        click(&cl, &format!("{motion} [data-option='hall'] button[aria-label='Move hall up']")).await;
        let order = wait_text(&cl, &format!("{motion} .ranking"), "the new order", |t| t.contains("hall")).await;
        assert!(order.find("hall") < order.find("canteen"), "{order}");
        assert!(order.find("canteen") < order.find("yard"), "{order}");
        click(&cl, &format!("{motion} button[data-rank]")).await;
        wait_text(&cl, "#status", "the ranking recorded", |t| t.contains("Ranking recorded")).await;
        wait_text(&cl, &format!("{motion} .count[data-option='hall']"), "hall first once", |t| t == "1").await;
        wait_text(&cl, &format!("{motion} .mine"), "my ranking shown", |t| t.contains("hall first")).await;
        shot(&cl, &screenshots(), "7-ranked.png").await;
        let shown = b.council(&url, &["--json", "motion", "show", &m[..8]]).ok().json();
        assert_eq!(shown["pairwise"], json!([[0, 1, 0], [0, 0, 0], [1, 1, 0]]), "{shown}");
        assert_eq!(shown["my_ballot"]["final"], false, "{shown}");
        assert_eq!(shown["my_ranking"], json!([2, 0, 1]), "{shown}");
        // The page shows the member's own ranking again; made final as it stands.
        let order = wait_text(&cl, &format!("{motion} .ranking"), "my order", |t| t.contains("hall")).await;
        assert!(order.find("hall") < order.find("canteen") && order.find("canteen") < order.find("yard"), "{order}");
        click(&cl, &format!("{motion} input[data-final]")).await;
        click(&cl, &format!("{motion} button[data-rank]")).await;
        wait_text(&cl, &format!("{motion} .mine"), "my final ranking", |t| t.contains("It is final")).await;
        let shown = b.council(&url, &["--json", "motion", "show", &m[..8]]).ok().json();
        assert_eq!(shown["my_ballot"], json!({ "choice": 2, "counter": shown["my_ballot"]["counter"], "final": true }));
        assert_eq!(shown["my_ranking"], json!([2, 0, 1]), "{shown}");
        assert_eq!(shown["ballots_changed"], 1, "{shown}");
        cl.close().await.unwrap();
    });
    d.stop();
}

#[test]
fn a_member_votes_over_tls_in_chromium() {
    let Some(driver) = chromedriver() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let (data, devs) = found(tmp.path());
    // TLS as on a LAN address (turned on here, on loopback).
    let cfg = tmp.path().join("tls.toml");
    std::fs::write(&cfg, "[members]\ntls = \"on\"\n").unwrap();
    let d = Daemon::start_with(&data, &["--config", cfg.to_str().unwrap()]);
    let addr = std::fs::read_to_string(data.join("members-addr")).unwrap().trim().to_owned();
    let url = format!("https://{addr}/");
    let (a, b) = (&devs[0], &devs[1]);
    let m = motion_id(&a.council(&url, &["motion", "open", "--title", "Over TLS", "--closes-in", "1h"]).ok());
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let cl = browser(&driver).await;
        // The session cookie is Secure under TLS, and the page's requests carry an
        // https:// Origin: both must work for a member to vote.
        sign_in(&cl, &url, &b.key).await;
        let motion = format!("[data-motion='{m}']");
        click(&cl, &format!("{motion} button[data-choice='yes']")).await;
        wait_text(&cl, &format!("{motion} .count[data-option='yes']"), "the vote over TLS", |t| t == "1").await;
        shot(&cl, &screenshots(), "6-voted-over-tls.png").await;
        cl.close().await.unwrap();
    });
    let shown = b.council(&url, &["--json", "motion", "show", &m[..8]]).ok().json();
    assert_eq!(shown["counts"], json!([1, 0, 0]), "{shown}");
    d.stop();
}

/// Two councils, A (three members) and B (one), found a federation by council acts,
/// their nodes connected. Returns A's daemon and federation id, and B's daemon.
fn two_federated_councils(root: &Path) -> (Daemon, Vec<crate::members::Device>, String, Daemon) {
    use crate::util::{councild, eventually, run};
    let (data, devs) = found(root);
    let a = Daemon::start(&data);
    let bkey = root.join("b.key");
    run(&["key", "new", bkey.to_str().unwrap()]).ok();
    let bdir = root.join("b-node");
    councild(&["init", "--data-dir", bdir.to_str().unwrap(), "--name", "Bakery", "--solo-key", bkey.to_str().unwrap()])
        .ok();
    let b = Daemon::start(&bdir);
    let id = |d: &Daemon| d.council(&["--json", "status"]).ok().json()["id"].as_str().unwrap().to_owned();
    let (ida, idb) = (id(&a), id(&b));
    let charter = root.join("charter.toml");
    std::fs::write(
        &charter,
        format!(
            "name = \"Riverside\"\nprinciples = [\"p\"]\nfounders = [\"{ida}\", \"{idb}\"]\ncreated_at = \"2026-11-22T09:00:00Z\"\n[rules]\nadmission = \"majority\"\nmotion_quorum = \"1/2\"\nmotion_threshold = \"majority\"\n"
        ),
    )
    .unwrap();
    let c = charter.to_str().unwrap();
    let voters: [(&Daemon, Vec<&Path>); 2] =
        [(&a, vec![devs[0].key.as_path(), devs[1].key.as_path()]), (&b, vec![bkey.as_path()])];
    for (d, keys) in voters {
        let k = keys[0].to_str().unwrap();
        d.council(&["federation", "create", "--key", k, c, "--closes-in", "1h"]).ok();
        let list = d.council(&["--json", "motion", "list"]).ok().json();
        let m = list[0]["id"].as_str().unwrap().to_owned();
        for k in keys {
            d.council(&["vote", "--final", "--key", k.to_str().unwrap(), &m, "yes"]).ok();
        }
    }
    let b_addr = b.council(&["--json", "network"]).ok().json()["listen"][0].as_str().unwrap().to_owned();
    a.council(&["peer", "add", &b_addr]).ok();
    let fed = eventually("A to count two member councils", || {
        let v = a.council(&["--json", "federation", "list"]).ok().json();
        let f = v["federations"].as_array()?.first()?.clone();
        (f["members"].as_array()?.len() == 2).then(|| f["id"].as_str().unwrap().to_owned())
    });
    (a, devs, fed, b)
}

/// A member invites a council into the federation from the page. The invite is logged on
/// the node; the string the page shows is one `council federation join` reads (its
/// checksum, the federation, the issuer, the key the node logged, the node's addresses);
/// and the QR code drawn decodes, as a phone's reader would read it, to that string.
#[test]
fn a_member_makes_an_invite_and_its_qr_code_in_chromium() {
    let Some(driver) = chromedriver() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let (a, devs, fed, _b) = two_federated_councils(tmp.path());
    let url = crate::members::members_url(&a.dir) + "/";
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let (text, path) = rt.block_on(async {
        let c = browser(&driver).await;
        sign_in(&c, &url, &devs[0].key).await;
        click(&c, &format!("[data-invite=\"{fed}\"]")).await;
        let uses = c.find(Locator::Css("#inv-uses")).await.unwrap();
        uses.clear().await.unwrap();
        uses.send_keys("2").await.unwrap();
        click(&c, "#invite-form button[type=submit]").await;
        wait_text(&c, "#status", "the invite is made", |t| t.starts_with("Invite made")).await;
        let text = c.find(Locator::Css("#invite-string")).await.unwrap().prop("value").await.unwrap().unwrap();
        let path = c.find(Locator::Css("#invite-result svg.qr path")).await.unwrap().attr("d").await.unwrap().unwrap();
        shot(&c, &screenshots(), "invite.png").await;
        c.close().await.unwrap();
        (text, path)
    });

    let invite: council_core::invite::InviteString = text.parse().unwrap_or_else(|e| panic!("{e}: {text}"));
    let status = a.council(&["--json", "status"]).ok().json();
    assert_eq!(invite.issuer.to_hex(), status["id"].as_str().unwrap());
    assert_eq!(invite.federation.to_hex(), fed);
    let listen = a.council(&["--json", "network"]).ok().json()["listen"].clone();
    assert_eq!(serde_json::json!(invite.addrs), listen);
    let week = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 7 * 86_400;
    assert!(invite.expires_at.abs_diff(week) < 120, "valid for the 7 days asked");
    let shown = a.council(&["--json", "federation", "show", &fed]).ok().json();
    let logged = shown["invites"].as_array().unwrap().iter().find(|i| i["key"] == invite.key.public().to_did());
    let logged = logged.unwrap_or_else(|| panic!("the invite's key is not the one logged: {shown}"));
    assert_eq!(logged["max_uses"], 2);
    let pending = a.council(&["federation", "pending"]).ok().stdout;
    assert!(pending.contains("used 0 of 2, open until"), "{pending}");
    // A typo is caught by the checksum.
    let mut typo: Vec<char> = text.chars().collect();
    let at = "councilnet-invite:".len() + 20;
    typo[at] = if typo[at] == 'x' { 'y' } else { 'x' };
    let typo: String = typo.into_iter().collect();
    assert!(typo.parse::<council_core::invite::InviteString>().is_err(), "{typo}");

    // The QR code: the page drew each dark module as "M{x} {y}h1v1h-1z", the code inside
    // a 4-module quiet zone. Drawn as a picture (4 pixels a module) and read back as a
    // phone's reader would (rqrr), it is the invite string.
    let mut dark = std::collections::HashSet::new();
    let mut side = 0;
    for cell in path.split('M').filter(|s| !s.is_empty()) {
        let xy: Vec<usize> = cell.trim_end_matches("h1v1h-1z").split(' ').map(|n| n.parse().unwrap()).collect();
        side = side.max(xy[0] + 5).max(xy[1] + 5);
        dark.insert((xy[0], xy[1]));
    }
    let px = 4;
    let mut image = rqrr::PreparedImage::prepare_from_greyscale(side * px, side * px, |x, y| {
        if dark.contains(&(x / px, y / px)) {
            0
        } else {
            255
        }
    });
    let grids = image.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code in the drawing");
    let (_, decoded) = grids[0].decode().expect("the drawn QR code decodes");
    assert_eq!(decoded, text);
}
