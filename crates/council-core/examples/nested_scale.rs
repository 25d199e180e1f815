//! What a node of a three-level federation of federations holds and receives
//! (PROTOCOL.md §8.1, §12.9; docs/BENCHMARKS.md, B8).
//!
//! Builds, with the same rules the node and `council verify` use, `REGIONS` regions of
//! `LOCALS` local federations of `COUNCILS` councils each (10 × 10 × 10 = 1,000 councils
//! by default) under one federation of the regions, every council with its own motion and
//! `BALLOTS` ballots on it; the top federation then decides a motion through three nested
//! acts and every council ratifies it. It then sorts every log entry by the node's own
//! rule ([`CouncilState::is_federation_level`]) and prints, for a node of one local
//! council, what it holds (its local federation's logs whole, every other council's as a
//! federation-level copy), what it receives by gossip (its local federation's entries on
//! the local topic; its region's and every council's federation-level entries on the two
//! federation-level topics), and every log whole beside them. It writes the node's
//! holding as an export, checks that it verifies and decides the top federation as the
//! whole export does, and times `council verify` on both.
//!
//!     cargo run --release -p council-core --example nested_scale -- [COUNCILS LOCALS REGIONS BALLOTS]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::time::Instant;

use council_core::cbor::Cbor;
use council_core::council::CouncilState;
use council_core::export::{federation_level_copy, verify_reader, ExportItem, ItemReader};
use council_core::records::{Action, CouncilRules, MotionForm, MotionId};
use council_core::sample::nested::{Part, World};
use council_core::verify::Verified;
use council_core::SecretKey;

fn arg(i: usize, default: usize) -> usize {
    std::env::args().nth(i).and_then(|a| a.parse().ok()).unwrap_or(default)
}

fn main() {
    let (per_local, locals, regions, ballots) = (arg(1, 10), arg(2, 10), arg(3, 10), arg(4, 50));
    let members = 5;
    let started = Instant::now();
    let mut w = World::new(1_800_000_000);
    let mut local_ids = Vec::new();
    let mut local_councils: Vec<Vec<usize>> = Vec::new();
    for l in 0..regions * locals {
        let councils: Vec<usize> =
            (0..per_local).map(|c| w.council(&format!("scale/{l}/{c}"), members).unwrap()).collect();
        let parts: Vec<Part> = councils.iter().map(|c| Part::Council(*c)).collect();
        local_ids.push(w.found(&format!("Local {l}"), &parts).unwrap());
        local_councils.push(councils);
    }
    // Each council's own business: a motion, and ballots on it (members change their
    // minds: BALLOTS ballots from `members` members).
    for i in 0..w.councils.len() {
        let c = &mut w.councils[i];
        let t = w.clock.tick();
        let opener = SecretKey::from_seed(&c.keys[0].seed());
        let form = MotionForm::Choice(vec!["morning shift".into(), "evening shift".into()]);
        let rule = CouncilRules::default().act_rule;
        let m = c.b.open(t, &opener, "Which shift takes the training?", form, rule, t + 1_000_000).unwrap();
        for n in 0..ballots {
            let voter = SecretKey::from_seed(&c.keys[n % members].seed());
            let t = w.clock.tick();
            c.b.vote(t, &voter, m, (n % 2) as u32).unwrap();
        }
    }
    let regions_ids: Vec<_> = (0..regions)
        .map(|r| {
            let parts: Vec<Part> = (0..locals).map(|l| Part::Federation(local_ids[r * locals + l])).collect();
            w.found(&format!("Region {r}"), &parts).unwrap()
        })
        .collect();
    let top = w
        .found("Federation of the regions", &regions_ids.iter().map(|r| Part::Federation(*r)).collect::<Vec<_>>())
        .unwrap();
    let mut motion = w.act_motion(top, None);
    motion.matter = "pay".into();
    let closes_at = motion.closes_at;
    let id: MotionId = w.open(motion).unwrap();
    w.vote_all(top, id, 0).unwrap();
    w.settle_at(closes_at + 1).unwrap();
    for i in w.bound(top) {
        w.pass(i, Action::Ratify { federation: top, motion: id, accept: true }).unwrap();
    }
    let built = started.elapsed();
    let bytes = w.export().unwrap();

    // Classify every entry by the rule the node uses (PROTOCOL.md §12.9), replaying each
    // log to do so.
    let mut reader = ItemReader::new(&bytes[..]);
    let councils = w.councils.len();
    let mut council_id_index = std::collections::HashMap::new();
    for (i, c) in w.councils.iter().enumerate() {
        council_id_index.insert(c.b.id(), i);
    }
    let mut whole = vec![0u64; councils];
    let mut federation_level = vec![0u64; councils];
    let (mut entries, mut fed_entries) = (0u64, 0u64);
    let mut state: Option<CouncilState> = None;
    while let Some((_, item)) = reader.next_item().unwrap() {
        let len = item.len() as u64;
        match ExportItem::from_cbor(&item).unwrap() {
            ExportItem::Genesis(g) | ExportItem::PartialGenesis(g) => {
                let i = council_id_index[&g.council_id()];
                whole[i] += len;
                federation_level[i] += len;
                state = Some(CouncilState::new(Verified::from_own_store(g)).unwrap());
            }
            ExportItem::Entry(e) => {
                entries += 1;
                let i = council_id_index[&e.body.council];
                whole[i] += len;
                let st = state.as_mut().unwrap();
                if st.is_federation_level(&e.body.payload) {
                    fed_entries += 1;
                    federation_level[i] += len;
                }
                st.apply(Verified::from_own_store(e)).unwrap();
            }
            _ => {}
        }
    }
    let all: u64 = whole.iter().sum();
    let fed_all: u64 = federation_level.iter().sum();
    // One node of the first local federation (council 0): its local federation's logs
    // whole, and the other councils' logs as federation-level copies (what it holds);
    // by gossip it receives its local federation's entries once on the local topic, and
    // the federation-level entries of its region's councils on the region's
    // federation-level topic and of every council on the top federation's (a council in
    // both publishes on both: its region's councils come twice).
    let local: BTreeSet<usize> = local_councils[0].iter().copied().collect();
    let region: BTreeSet<usize> = local_councils[..locals].iter().flatten().copied().collect();
    let local_whole: u64 = local.iter().map(|i| whole[*i]).sum();
    let others_whole: u64 = (0..councils).filter(|i| !local.contains(i)).map(|i| whole[i]).sum();
    let others_fed: u64 = (0..councils).filter(|i| !local.contains(i)).map(|i| federation_level[i]).sum();
    let fed_of =
        |set: &mut dyn Iterator<Item = usize>| -> u64 { set.filter(|i| *i != 0).map(|i| federation_level[i]).sum() };
    let received = local.iter().filter(|i| **i != 0).map(|i| whole[*i]).sum::<u64>()
        + fed_of(&mut region.iter().copied())
        + fed_of(&mut (0..councils));

    // What the node holds, as an export: its local federation whole, the rest copies. It
    // verifies, and decides the top federation exactly as the whole export does.
    let local_ids_set: BTreeSet<_> = local.iter().map(|i| w.councils[*i].b.id()).collect();
    let copy = federation_level_copy(&bytes, |c| local_ids_set.contains(c)).unwrap();
    let verify_started = Instant::now();
    let report = verify_reader(&bytes[..]);
    let verify = verify_started.elapsed();
    assert!(report.valid, "the export verifies");
    assert!(report.void_federation_events.is_empty(), "no void federation event");
    let copy_started = Instant::now();
    let held = verify_reader(&copy[..]);
    let verify_copy = copy_started.elapsed();
    assert!(held.valid, "the node's holding verifies: {:?}", held.errors.first());
    let top_of = |r: &council_core::export::Report| {
        let t = r.federations.iter().find(|f| f.id == top).unwrap();
        serde_json::to_value(&t.motions).unwrap()
    };
    assert_eq!(top_of(&report), top_of(&held), "the copies decide the top federation as the whole logs do");

    let mb = |b: u64| b as f64 / 1e6;
    println!(
        "{councils} councils ({per_local} per local federation, {locals} locals per region, {regions} regions), {members} members each, {ballots} ballots each"
    );
    println!("built in {:.1} s; {entries} log entries, {fed_entries} of them federation level", built.as_secs_f64());
    println!("every log whole:                 {:>9.2} MB", mb(all));
    println!("federation-level entries, all:   {:>9.2} MB ({:.3}x)", mb(fed_all), fed_all as f64 / all as f64);
    println!("a node of a local council holds:");
    println!("  its local federation, whole:   {:>9.2} MB", mb(local_whole));
    println!(
        "  + the others, as copies:       {:>9.2} MB ({:.2} MB in all, {} bytes as an export)",
        mb(others_fed),
        mb(local_whole + others_fed),
        copy.len()
    );
    println!(
        "  + the others, whole:           {:>9.2} MB (if every log went everywhere: {:.2} MB in all)",
        mb(others_whole),
        mb(local_whole + others_whole)
    );
    println!(
        "and receives by gossip, once the records exist: {:.2} MB ({:.3}x of every log whole)",
        mb(received),
        received as f64 / all as f64
    );
    println!(
        "council verify: the whole export {:.2} s; the node's holding {:.2} s",
        verify.as_secs_f64(),
        verify_copy.as_secs_f64()
    );
    println!(
        "{{\"councils\":{councils},\"entries\":{entries},\"federation_entries\":{fed_entries},\"all_bytes\":{all},\"federation_bytes\":{fed_all},\"local_whole_bytes\":{local_whole},\"others_federation_bytes\":{others_fed},\"others_whole_bytes\":{others_whole},\"received_bytes\":{received},\"held_export_bytes\":{},\"verify_seconds\":{:.3},\"verify_held_seconds\":{:.3}}}",
        copy.len(),
        verify.as_secs_f64(),
        verify_copy.as_secs_f64()
    );
}
