//! Helpers: run `council` and `councild` as a user would, and capture what they print.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub fn council() -> Command {
    Command::new(env!("CARGO_BIN_EXE_council"))
}

/// `councild` is built by the councild package, next to `council`.
pub fn councild_path() -> PathBuf {
    let p =
        Path::new(env!("CARGO_BIN_EXE_council")).with_file_name(format!("councild{}", std::env::consts::EXE_SUFFIX));
    assert!(
        p.exists(),
        "{} is missing: build it with `cargo build -p councild` (`cargo test --workspace` does)",
        p.display()
    );
    p
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", self.stdout, self.stderr))
    }
    pub fn ok(self) -> Run {
        assert_eq!(self.code, 0, "command failed:\n{}\n{}", self.stdout, self.stderr);
        self
    }
}

fn capture(out: Output) -> Run {
    Run {
        code: out.status.code().expect("exited normally, not by a signal"),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

pub fn run(args: &[&str]) -> Run {
    capture(council().args(args).output().expect("the council binary runs"))
}

pub fn councild(args: &[&str]) -> Run {
    capture(Command::new(councild_path()).args(args).output().expect("the councild binary runs"))
}

pub fn sample(dir: &Path, name: &str, extra: &[&str]) -> PathBuf {
    let path = dir.join(name);
    let mut args = vec!["sample", "--out", path.to_str().unwrap()];
    args.extend_from_slice(extra);
    let r = run(&args);
    assert_eq!(r.code, 0, "sample failed: {}", r.stderr);
    path
}

/// A council of one, to try things alone: a member key (`root/me.key`) and the data
/// directory `root/node` that `councild init --solo-key` made; and what init printed.
pub fn solo(root: &Path, name: &str) -> (PathBuf, PathBuf, Run) {
    let key = root.join("me.key");
    run(&["key", "new", key.to_str().unwrap()]).ok();
    let dir = root.join("node");
    let r =
        councild(&["init", "--data-dir", dir.to_str().unwrap(), "--name", name, "--solo-key", key.to_str().unwrap()])
            .ok();
    (dir, key, r)
}

/// A running `councild` process on 127.0.0.1 with a free port.
pub struct Daemon {
    pub dir: PathBuf,
    child: Option<Child>,
}

impl Daemon {
    pub fn start(dir: &Path) -> Daemon {
        Daemon::start_with(dir, &[])
    }

    /// Starts councild with extra flags (`--peer ADDR`, say). The network listens on
    /// 127.0.0.1 with a free port.
    pub fn start_with(dir: &Path, extra: &[&str]) -> Daemon {
        let mut args = vec!["--p2p-listen", "/ip4/127.0.0.1/tcp/0"];
        args.extend_from_slice(extra);
        Daemon::start_raw(dir, &args)
    }

    /// Starts councild with these flags only (besides the data directory, the API and
    /// member addresses and the log level): no `--p2p-listen`.
    pub fn start_raw(dir: &Path, extra: &[&str]) -> Daemon {
        let addr = dir.join("api-addr");
        let _ = std::fs::remove_file(&addr);
        let log = std::fs::File::create(dir.with_extension("log")).unwrap();
        let members: &[&str] =
            if extra.contains(&"--members-listen") { &[] } else { &["--members-listen", "127.0.0.1:0"] };
        let child = Command::new(councild_path())
            .args(["run", "--data-dir", dir.to_str().unwrap(), "--listen", "127.0.0.1:0", "--log", "info"])
            .args(members)
            .args(extra)
            .env_remove("COUNCILD_CONFIG")
            .env("XDG_CONFIG_HOME", dir.join("no-config"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("councild starts");
        let d = Daemon { dir: dir.to_owned(), child: Some(child) };
        let deadline = Instant::now() + Duration::from_secs(60);
        while !addr.exists() || d.council(&["status"]).code != 0 {
            assert!(Instant::now() < deadline, "councild did not come up; its log:\n{}", d.log());
            std::thread::sleep(Duration::from_millis(50));
        }
        d
    }

    /// Starts councild on a disk of its own: a `size_mb` tmpfs mounted at `mount` in a
    /// private mount namespace (`unshare --user --map-root-user --mount`: no privileges
    /// needed, and nothing outside sees the mount), holding a copy of the data directory
    /// `src`. The test reaches that disk through `/proc/PID/root` (see [`Daemon::dir`]):
    /// to fill it, free it, or read the node's files. The disk is gone when the node is.
    pub fn start_on_tmpfs(src: &Path, mount: &Path, size_mb: u32, extra: &[&str]) -> Daemon {
        std::fs::create_dir_all(mount).unwrap();
        let log = std::fs::File::create(mount.with_extension("log")).unwrap();
        let script = r#"mount -t tmpfs -o size="$1"m tmpfs "$2" && cp -a "$3"/. "$2"/ && shift 3 && exec "$@""#;
        let size = size_mb.to_string();
        let child = Command::new("unshare")
            .args(["--user", "--map-root-user", "--mount", "sh", "-c", script, "sh", &size])
            .args([mount, src, &councild_path()])
            .args(["run", "--data-dir", mount.to_str().unwrap(), "--listen", "127.0.0.1:0"])
            .args(["--members-listen", "127.0.0.1:0", "--log", "info"])
            .args(extra)
            .env_remove("COUNCILD_CONFIG")
            .env("XDG_CONFIG_HOME", mount.with_extension("no-config"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("unshare (util-linux) runs");
        // The shell execs councild: the same process, in the namespace with the mount.
        let dir = PathBuf::from(format!("/proc/{}/root{}", child.id(), mount.display()));
        let d = Daemon { dir, child: Some(child) };
        let deadline = Instant::now() + Duration::from_secs(60);
        while !d.dir.join("api-addr").exists() || d.council(&["status"]).code != 0 {
            assert!(
                Instant::now() < deadline,
                "councild did not come up on its own tmpfs (needs `unshare` and user namespaces); its log:\n{}",
                d.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        d
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.with_extension("log")).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// Runs `council` against this node.
    pub fn council(&self, args: &[&str]) -> Run {
        let mut a = vec!["--node-dir", self.dir.to_str().unwrap()];
        a.extend_from_slice(args);
        capture(council().args(&a).output().expect("council runs"))
    }

    /// The node's API base URL and token, for raw HTTP requests.
    pub fn api(&self) -> (String, String) {
        let addr = std::fs::read_to_string(self.dir.join("api-addr")).unwrap();
        let token = std::fs::read_to_string(self.dir.join("api-token")).unwrap();
        (format!("http://{}", addr.trim()), token.trim().to_owned())
    }

    /// SIGTERM, then wait: the graceful path.
    pub fn stop(mut self) {
        let mut c = self.child.take().unwrap();
        let ok = Command::new("kill").args(["-TERM", &c.id().to_string()]).status().unwrap().success();
        assert!(ok);
        let status = c.wait().unwrap();
        assert!(status.success(), "councild did not stop cleanly: {status}; log:\n{}", self.log());
    }

    /// SIGKILL: no chance to flush anything.
    pub fn crash(mut self) {
        let mut c = self.child.take().unwrap();
        c.kill().unwrap();
        c.wait().unwrap();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Polls `f` until it returns `Some`, for at most 60 seconds (slow machines).
pub fn eventually<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The secret key in a key file (`council key new`, or a node's `node.key`): the line
/// `councilnet-ed25519-seed:` and the 32-byte seed in hex.
pub fn read_key(path: &Path) -> council_core::SecretKey {
    let text = std::fs::read_to_string(path).unwrap();
    let mut seed = [0u8; 32];
    hex::decode_to_slice(text.trim().trim_start_matches("councilnet-ed25519-seed:"), &mut seed).unwrap();
    council_core::SecretKey::from_seed(&seed)
}

/// [`run`], with standard input from `stdin` (a path), failing the test if `council` has
/// not exited within 30 s: a hang (a fifo waited on, a device read forever) is a failure,
/// not a stalled suite.
pub fn run_within(args: &[&str], stdin: Option<&Path>) -> Run {
    let mut cmd = council();
    cmd.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd.stdin(match stdin {
        Some(p) => Stdio::from(std::fs::File::open(p).unwrap()),
        None => Stdio::null(),
    });
    let mut child = cmd.spawn().expect("the council binary runs");
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("`council {}` did not exit within 30 s: it hangs", args.join(" "));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    capture(child.wait_with_output().unwrap())
}

/// Makes a fifo (named pipe) at `p`.
pub fn mkfifo(p: &Path) {
    let ok = Command::new("mkfifo").arg(p).status().expect("mkfifo runs").success();
    assert!(ok, "mkfifo {} failed", p.display());
}
