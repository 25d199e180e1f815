//! Shared by the crash examples: starting a node process, and ballot load (a motion that
//! never settles, and clients that keep changing their ballots on it until told to stop,
//! keeping every ballot the node acknowledged).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use council_core::cbor::Cbor;
use council_core::records::{Action, MotionBody, MotionForm, MotionId, Rule, Share, Signed, Threshold, VoteBody};
use council_core::{Hash, SecretKey};
use council_node::datadir;

/// Starts a node on `dir` (the caller's command, its output discarded) and waits up to a
/// minute for its API address. The caller kills and waits for the child.
#[allow(clippy::zombie_processes)]
pub fn start_node(mut cmd: Command, dir: &Path) -> (Child, String) {
    let _ = std::fs::remove_file(dir.join(datadir::API_ADDR));
    let mut child = cmd.stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("the node starts");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(a) = std::fs::read_to_string(dir.join(datadir::API_ADDR)) {
            return (child, format!("http://{}", a.trim()));
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the node did not start");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Concurrent clients; each votes for four members of its own, so that every member's
/// counters rise (a lower counter would be refused as stale).
pub const VOTERS: u64 = 4;

/// Where the load goes: a node's API, and the council's member keys (at least
/// `1 + 4 * VOTERS`; member 0 opens the motion and never votes).
pub struct Load<'a> {
    pub agent: &'a ureq::Agent,
    pub base: &'a str,
    pub token: &'a str,
    pub council: Hash,
    pub keys: &'a [SecretKey],
}

impl Load<'_> {
    fn post(&self, path: &str, record: &[u8]) -> Result<ureq::Response, Box<ureq::Error>> {
        self.agent
            .post(&format!("{}{path}", self.base))
            .set("Authorization", &format!("Bearer {}", self.token))
            .timeout(Duration::from_secs(5))
            .send_json(serde_json::json!({ "record": hex::encode(record) }))
            .map_err(Box::new)
    }

    /// Opens a motion that cannot settle while member 0 has not voted (unanimity of all).
    pub fn open_motion(&self, title: String, nonce: u64) -> MotionId {
        let body = MotionBody {
            council: self.council,
            title,
            form: MotionForm::YesNo(Action::Resolution),
            rule: Rule { quorum: Share::new(1, 1), threshold: Threshold::UNANIMITY },
            closes_at: u64::MAX / 2,
            nonce,
        };
        let m = Signed::sign(body, &self.keys[0]);
        self.post("/v1/motions", &m.to_cbor()).expect("motion accepted");
        m.id()
    }

    /// Starts [`VOTERS`] clients in `scope`, voting on `motion` with counters from
    /// `first_counter` on, until `stop`; every acknowledged ballot goes into `acked`.
    pub fn spawn_voters<'scope, 'env>(
        &'env self,
        scope: &'scope std::thread::Scope<'scope, 'env>,
        motion: MotionId,
        first_counter: u64,
        stop: &Arc<AtomicBool>,
        acked: &Arc<Mutex<Vec<Vec<u8>>>>,
    ) {
        for t in 0..VOTERS {
            let (stop, acked) = (stop.clone(), acked.clone());
            let mut c = first_counter;
            scope.spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    c += 1;
                    let k = &self.keys[(1 + t + VOTERS * (c % 4)) as usize];
                    let body =
                        VoteBody { council: self.council, motion, choice: (c % 2) as u32, counter: c, is_final: false };
                    let v = Signed::sign(body, k).to_cbor();
                    if self.post("/v1/votes", &v).is_ok_and(|r| r.status() == 201) {
                        acked.lock().expect("lock").push(v);
                    }
                }
            });
        }
    }
}
