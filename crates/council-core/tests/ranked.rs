//! Ranked motions (PROTOCOL.md §7.1): members rank every option, the Schulze method (by
//! winning votes) picks the winner, the lot fixed at the opening breaks a tie, and a
//! ranked motion closes early only when no open ballot can change its winner.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Council, T0};
use council_core::cbor::Cbor;
use council_core::council::RecordError;
use council_core::export::verify_reader;
use council_core::records::{MotionForm, Outcome, Payload, RankingBody, Rule, Share, Signed, Threshold};
use council_core::sample::{key_from_label, Clock};
use council_core::tally::{self, Counts, Open};
use council_core::Hash;
use proptest::prelude::*;

fn ranked_rule() -> Rule {
    Rule { quorum: Share::new(1, 2), threshold: tally::RANKED_THRESHOLD }
}

/// The worked example of the Schulze method's description (Markus Schulze, "A new
/// monotonic, clone-independent, reversal symmetric, and Condorcet-consistent
/// single-winner election method", Social Choice and Welfare 36 (2011), example 1; also
/// the example of Wikipedia's "Schulze method" article): 45 voters, options A to E.
const WIKIPEDIA: [(usize, &str); 8] =
    [(5, "ACBED"), (5, "ADECB"), (8, "BEDAC"), (3, "CABED"), (7, "CAEBD"), (2, "CBADE"), (7, "DCEBA"), (8, "EBADC")];

fn ballots(groups: &[(usize, &str)]) -> Vec<Vec<u32>> {
    groups
        .iter()
        .flat_map(|&(n, order)| std::iter::repeat_n(order.bytes().map(|b| u32::from(b - b'A')).collect(), n))
        .collect()
}

#[test]
fn the_published_example_is_won_by_e() {
    let b = ballots(&WIKIPEDIA);
    assert_eq!(b.len(), 45);
    let d = tally::pairwise(5, b.iter().map(Vec::as_slice));
    // The pairwise preferences as published.
    let published: [[u64; 5]; 5] =
        [[0, 20, 26, 30, 22], [25, 0, 16, 33, 18], [19, 29, 0, 17, 24], [15, 12, 28, 0, 14], [23, 27, 21, 31, 0]];
    for (i, row) in published.iter().enumerate() {
        assert_eq!(d[i], row.to_vec(), "row {}", (b'A' + i as u8) as char);
    }
    // The strongest paths as published.
    let paths: [[u64; 5]; 5] =
        [[0, 28, 28, 30, 24], [25, 0, 28, 33, 24], [25, 29, 0, 29, 24], [25, 28, 28, 0, 24], [25, 28, 28, 31, 0]];
    let p = tally::strongest_paths(&d);
    for (i, row) in paths.iter().enumerate() {
        assert_eq!(p[i], row.to_vec(), "paths from {}", (b'A' + i as u8) as char);
    }
    assert_eq!(tally::schulze_winners(&d), vec![4], "E wins, as published");
}

/// The same example through a council's log: 45 members rank, the motion closes at its
/// closing time with E chosen, and the export verifies with the pairwise matrix in it.
#[test]
fn a_council_of_45_ranks_and_chooses_e() {
    let mut clock = Clock(T0);
    let mut c = Council::new("r", 45, &mut clock);
    let keys: Vec<_> = (0..45).map(|i| key_from_label(&format!("r/m{i}"))).collect();
    let form = MotionForm::Ranked(["A", "B", "C", "D", "E"].map(String::from).to_vec());
    let closes_at = T0 + 10_000;
    let m = c.b.open(clock.tick(), &keys[0], "Where to hold the congress", form, ranked_rule(), closes_at).unwrap();
    for (k, r) in keys.iter().zip(ballots(&WIKIPEDIA)) {
        c.b.rank(clock.tick(), k, m, &r, false).unwrap();
    }
    assert_eq!(c.b.settled(&m), None, "every ranking may still change");
    clock.advance_to(closes_at);
    assert_eq!(c.b.close(clock.tick(), m).unwrap(), Outcome::Chosen(4));
    let report = verify_reader(&common::export(&mut [&mut c.b])[..]);
    assert!(report.valid, "{:?}", report.errors);
    let mr = &report.councils[0].motions[0];
    assert_eq!(mr.kind, "ranked");
    assert_eq!(mr.counts, vec![10, 8, 12, 7, 8, 0], "first preferences, abstain last");
    assert_eq!(mr.pairwise.as_ref().unwrap()[4], vec![23, 27, 21, 31, 0]);
}

#[test]
fn a_ranking_that_repeats_or_omits_options_is_refused() {
    let mut clock = Clock(T0);
    let mut c = Council::new("r", 3, &mut clock);
    let a = key_from_label("r/m0");
    let form = MotionForm::Ranked(vec!["x".into(), "y".into(), "z".into()]);
    let m = c.b.open(clock.tick(), &a, "Q", form, ranked_rule(), T0 + 1000).unwrap();
    let council = c.b.id();
    let ranking = |r: &[u32]| {
        let body = RankingBody { council, motion: m, ranking: r.to_vec(), counter: 1, is_final: false };
        Payload::Ranking(Box::new(Signed::sign(body, &a)))
    };
    let err = c.try_append(clock.tick(), ranking(&[0, 1, 1])).unwrap_err();
    assert!(matches!(err, RecordError::RankingRepeats { option: 1 }), "{err}");
    let err = c.try_append(clock.tick(), ranking(&[2, 0])).unwrap_err();
    assert!(matches!(err, RecordError::RankingOmits { option: 1 }), "{err}");
    let err = c.try_append(clock.tick(), ranking(&[0, 1, 3])).unwrap_err();
    assert!(matches!(err, RecordError::BadChoice { choice: 3, options: 3 }), "{err}");
    // A plain vote on a ranked motion, a ranking on a choice motion.
    let vote = c.b.ballot(&a, m, 0);
    let err = c.try_append(clock.tick(), Payload::Vote(vote)).unwrap_err();
    assert!(matches!(err, RecordError::RankingExpected { .. }), "{err}");
    let choice = MotionForm::Choice(vec!["x".into(), "y".into()]);
    let simple = Rule { quorum: Share::new(1, 2), threshold: Threshold::SIMPLE_MAJORITY };
    let cm = c.b.open(clock.tick(), &a, "C", choice, simple, T0 + 1000).unwrap();
    let body = RankingBody { council: c.b.id(), motion: cm, ranking: vec![0, 1], counter: 1, is_final: false };
    let err = c.try_append(clock.tick(), Payload::Ranking(Box::new(Signed::sign(body, &a)))).unwrap_err();
    assert!(matches!(err, RecordError::ChoiceExpected { .. }), "{err}");
    // Each element in order: out of range first, then a repeat.
    let err = c.try_append(clock.tick(), ranking(&[5, 0, 0])).unwrap_err();
    assert!(matches!(err, RecordError::BadChoice { choice: 5, options: 3 }), "{err}");
    let err = c.try_append(clock.tick(), ranking(&[0, 0, 5])).unwrap_err();
    assert!(matches!(err, RecordError::RankingRepeats { option: 0 }), "{err}");
    // More than 32 entries does not even decode; a sixth element `false` is not canonical.
    let long = RankingBody { council: c.b.id(), motion: m, ranking: vec![0; 33], counter: 1, is_final: false };
    assert!(RankingBody::from_cbor(&long.to_cbor()).is_err());
    let fin = RankingBody { council: c.b.id(), motion: m, ranking: vec![0, 1, 2], counter: 1, is_final: true };
    let mut bytes = fin.to_cbor();
    assert_eq!(bytes.pop(), Some(0xf5));
    bytes.push(0xf4);
    assert!(matches!(RankingBody::from_cbor(&bytes), Err(council_core::DecodeError::NonCanonical { .. })));
    // An empty ranking abstains; a full one counts.
    c.b.rank(clock.tick(), &a, m, &[], false).unwrap();
    c.b.rank(clock.tick(), &a, m, &[2, 0, 1], false).unwrap();
    assert_eq!(c.b.state().motion(&m).unwrap().counts().counts, vec![0, 0, 1, 0]);
    // A ranked motion carries the simple-majority threshold: the method decides.
    let two_thirds = Rule { quorum: Share::new(1, 2), threshold: Threshold::TWO_THIRDS };
    let form = MotionForm::Ranked(vec!["x".into(), "y".into()]);
    let err = c.b.open(clock.tick(), &a, "T", form, two_thirds, T0 + 1000).unwrap_err();
    assert!(matches!(err, RecordError::InvalidMotion(_)), "{err}");
}

/// Two members, opposite rankings: both options win by Schulze, and the lot decides,
/// the option whose SHA-256(motion id ‖ option, 4 bytes big-endian) is smallest.
#[test]
fn a_tie_is_broken_by_the_lot_fixed_when_the_motion_opened() {
    let mut clock = Clock(T0);
    let mut c = Council::new("r", 2, &mut clock);
    let (a, b) = (key_from_label("r/m0"), key_from_label("r/m1"));
    let form = MotionForm::Ranked(vec!["x".into(), "y".into()]);
    let m = c.b.open(clock.tick(), &a, "Q", form, ranked_rule(), T0 + 1000).unwrap();
    c.b.rank(clock.tick(), &a, m, &[0, 1], true).unwrap();
    c.b.rank(clock.tick(), &b, m, &[1, 0], true).unwrap();
    let draw = |o: u32| {
        let mut bytes = m.0.to_vec();
        bytes.extend_from_slice(&o.to_be_bytes());
        Hash::of(&bytes)
    };
    let expected = if draw(0) < draw(1) { 0 } else { 1 };
    // Every ballot is final and cast: settled, by the lot.
    assert_eq!(c.b.close(clock.tick(), m).unwrap(), Outcome::Chosen(expected));
}

#[test]
fn a_ranked_motion_closes_early_once_the_winner_is_beyond_reach() {
    let mut clock = Clock(T0);
    let mut c = Council::new("r", 5, &mut clock);
    let keys: Vec<_> = (0..5).map(|i| key_from_label(&format!("r/m{i}"))).collect();
    let form = MotionForm::Ranked(vec!["x".into(), "y".into(), "z".into()]);
    let m = c.b.open(clock.tick(), &keys[0], "Q", form, ranked_rule(), T0 + 1000).unwrap();
    // Three final rankings with x first; two members have not voted. x beats y and z 3:0,
    // and 2 open ballots cannot turn that: x is the Condorcet winner of every completion.
    for k in &keys[..2] {
        c.b.rank(clock.tick(), k, m, &[0, 1, 2], true).unwrap();
    }
    assert_eq!(c.b.settled(&m), None, "2:0 can still become 2:3");
    c.b.rank(clock.tick(), &keys[2], m, &[0, 2, 1], true).unwrap();
    assert_eq!(c.b.close(clock.tick(), m).unwrap(), Outcome::Chosen(0));
}

/// Every ranking of `options` options, and the empty one (an abstention).
fn all_rankings(options: u32) -> Vec<Vec<u32>> {
    fn perms(rest: Vec<u32>, at: Vec<u32>, out: &mut Vec<Vec<u32>>) {
        if rest.is_empty() {
            out.push(at);
            return;
        }
        for (i, &o) in rest.iter().enumerate() {
            let mut r = rest.clone();
            r.remove(i);
            let mut a = at.clone();
            a.push(o);
            perms(r, a, out);
        }
    }
    let mut out = vec![vec![]];
    perms((0..options).collect(), vec![], &mut out);
    out
}

proptest! {
    /// An early close of a ranked motion never disagrees with any completion: every open
    /// ballot turned into any ranking (or an abstention), every member who has not voted
    /// adding any ranking or staying away.
    #[test]
    fn an_early_close_of_a_ranked_motion_agrees_with_every_completion(
        electorate in 1usize..5,
        ballots in proptest::collection::vec(proptest::option::of((0usize..7, any::<bool>())), 4),
        quorum in (1u32..=3).prop_flat_map(|d| (0..=d, Just(d))),
        seed in any::<u64>(),
    ) {
        let options = 3u32;
        let all = all_rankings(options);
        let rule = Rule { quorum: Share::new(quorum.0, quorum.1), threshold: tally::RANKED_THRESHOLD };
        let motion = Hash::of(&seed.to_be_bytes());
        let cast: Vec<(Vec<u32>, bool)> =
            ballots.iter().take(electorate).flatten().map(|&(r, f)| (all[r].clone(), f)).collect();
        let mut fixed = Counts::new(options, electorate as u64);
        let finals: Vec<&Vec<u32>> = cast.iter().filter(|(_, f)| *f).map(|(r, _)| r).collect();
        for r in &finals {
            fixed.counts[r.first().map_or(options as usize, |&o| o as usize)] += 1;
        }
        let d = tally::pairwise(options as usize, finals.iter().map(|r| r.as_slice()));
        let open_n = (cast.len() - finals.len()) as u64;
        let open = Open { at_least: open_n, at_most: electorate as u64 - finals.len() as u64 };
        if let Some(settled) = tally::ranked_settled(&rule, &fixed, &d, open, &motion) {
            // Each open ballot: any ranking; each non-voter: any ranking or none.
            let slots = cast.len() - finals.len() + (electorate - cast.len());
            let choices: Vec<usize> = (0..slots).map(|i| if i < open_n as usize { all.len() } else { all.len() + 1 }).collect();
            let mut pick = vec![0usize; slots];
            loop {
                let mut rankings: Vec<Vec<u32>> = finals.iter().map(|r| (*r).clone()).collect();
                let mut counts = fixed.clone();
                for &p in &pick {
                    if p < all.len() {
                        counts.counts[all[p].first().map_or(options as usize, |&o| o as usize)] += 1;
                        rankings.push(all[p].clone());
                    }
                }
                let d = tally::pairwise(options as usize, rankings.iter().map(Vec::as_slice));
                prop_assert_eq!(tally::ranked_outcome(&rule, &counts, &d, &motion), settled, "{:?}", pick);
                // Next completion.
                let mut i = 0;
                while i < slots {
                    pick[i] += 1;
                    if pick[i] < choices[i] { break; }
                    pick[i] = 0;
                    i += 1;
                }
                if i == slots { break; }
            }
        }
    }
}
