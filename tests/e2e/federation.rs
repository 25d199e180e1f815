//! `scripts/demo.sh` against the real binaries: three `councild` processes on loopback
//! found a federation, admit a council by invite, run a federation motion, recall a
//! delegate mid-motion, found a higher federation with the federation as one member, and
//! export; every export must verify offline and show the struck vote and the higher
//! federation.

use std::path::Path;
use std::process::Command;

use crate::util::{councild_path, run};

#[test]
fn the_demo_script_runs_green_and_its_exports_verify() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = tempfile::tempdir().unwrap();
    let bin = councild_path().parent().unwrap().to_owned();
    let r = Command::new("bash")
        .arg(root.join("scripts/demo.sh"))
        .arg(out.path())
        .env("COUNCIL_BIN", &bin)
        .env_remove("COUNCILD_CONFIG")
        .output()
        .expect("bash runs");
    let text = format!("{}\n{}", String::from_utf8_lossy(&r.stdout), String::from_utf8_lossy(&r.stderr));
    assert!(r.status.success(), "scripts/demo.sh failed:\n{text}");
    for who in ["north", "south", "east"] {
        let file = out.path().join(format!("{who}.cnx"));
        let v = run(&["--json", "verify", file.to_str().unwrap()]);
        assert_eq!(v.code, 0, "{who}'s export does not verify: {}{}", v.stdout, v.stderr);
        let report: serde_json::Value = serde_json::from_str(&v.stdout).unwrap();
        assert_eq!(report["councils"].as_array().unwrap().len(), 3, "{who}'s export carries all three logs");
        let fed = report["federations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == "Riverside Federation of Works Councils")
            .unwrap();
        let votes: Vec<String> = fed["motions"][0]["votes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["status"].as_str().unwrap().to_owned())
            .collect();
        let mut sorted = votes.clone();
        sorted.sort();
        assert_eq!(sorted, ["counted", "counted", "struck"], "{who}: {votes:?}");
        assert!(report["void_federation_events"].as_array().unwrap().is_empty(), "{who}: {report}");
        // The federation joined a higher one as one member (PROTOCOL.md §8.1).
        let higher = report["federations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == "Valley Federation of Federations")
            .unwrap();
        assert!(higher["founded_at"].is_u64(), "{who}: {higher}");
        assert!(higher["members"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["council"] == fed["id"] && m["federation"] == true));
        // Above, the federation's delegate cast one ballot for the whole federation, and it
        // was counted.
        let above = &higher["motions"][0];
        assert_eq!(above["outcome"]["result"], "chosen", "{who}: {above}");
        assert_eq!(above["votes"][0]["federation"], fed["id"], "{who}: {above}");
        assert_eq!(above["votes"][0]["status"], "counted", "{who}: {above}");
    }
}
