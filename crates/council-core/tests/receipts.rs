//! Receipts against a rewritten log: the operator attack of PROTOCOL.md §10.1.
//!
//! A council of three. A votes yes, B no, then B changes to yes and the motion passes
//! early. The operator takes the log, keeps entries 1 to 3, closes the motion as
//! rejected at its closing time and re-signs everything with the node key. Every
//! signature in the forged export is genuine and it verifies on its own; B's receipt for
//! the changed ballot shows the node signed two histories.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Council, T0};
use council_core::cbor::Cbor;
use council_core::export::{check_item, ItemReader};
use council_core::export::{verify_reader, ExportVerifier, ExportWriter, Report};
use council_core::receipt::Receipt;
use council_core::records::{Action, Entry, InviteBody, MotionForm, Outcome, Payload, Rule, Share, Signed, Threshold};
use council_core::sample::{key_from_label, Clock};
use council_core::verify::Verified;
use council_core::{Hash, SecretKey};

fn verify_with(bytes: &[u8], receipts: Vec<(String, Verified<Receipt>)>) -> Report {
    let mut r = ItemReader::new(bytes);
    let mut v = ExportVerifier::with_receipts(receipts);
    while let Some((pos, item)) = r.next_item().unwrap() {
        v.push(pos, check_item(pos, &item));
    }
    v.finish(None)
}

fn write(c: &Council, entries: &[Entry]) -> Vec<u8> {
    let mut w = ExportWriter::new(Vec::new(), c.b.id()).unwrap();
    w.genesis(c.b.genesis()).unwrap();
    for e in entries {
        w.entry(e.clone()).unwrap();
    }
    w.finish().unwrap()
}

fn receipt_for(e: &Entry) -> Verified<Receipt> {
    // Through the bytes, as a device stores it.
    Receipt::from_cbor(&Receipt { entry: e.clone() }.to_cbor()).unwrap().verify().unwrap()
}

#[test]
fn a_rewritten_log_is_caught_by_the_receipt_of_the_dropped_ballot() {
    let mut clock = Clock(T0);
    let mut c = Council::new("rewrite", 3, &mut clock);
    let (a, b) = (SecretKey::from_seed(&c.keys[0].seed()), SecretKey::from_seed(&c.keys[1].seed()));
    let rule = Rule { quorum: Share::new(1, 2), threshold: Threshold::SIMPLE_MAJORITY };
    let t = clock.tick();
    let m = c.b.open(t, &a, "Adopt the rota", MotionForm::YesNo(Action::Resolution), rule, t + 600).unwrap();
    c.b.vote_final(clock.tick(), &a, m, 0).unwrap();
    c.b.vote(clock.tick(), &b, m, 1).unwrap();
    c.b.vote_final(clock.tick(), &b, m, 0).unwrap(); // B changes their mind for good: 2 final yes of 3, settled
    let settled_at = clock.tick();
    assert_eq!(c.b.close(settled_at, m).unwrap(), Outcome::Passed);
    let honest = c.b.take_entries();
    assert_eq!(honest.len(), 5);
    let b_receipt = receipt_for(&honest[3]);

    // The honest export holds the receipt's entry.
    let r = verify_with(&write(&c, &honest), vec![("b.receipt".into(), b_receipt.clone())]);
    assert!(r.valid, "{:?}", r.errors);
    assert_eq!(r.receipts[0].verdict, "held");

    // The forgery: entries 1-3, then a close at the closing time, "rejected".
    let mut forged = honest[..3].to_vec();
    let last = &forged[2];
    let close = c.b.forge_conflicting(4, last.id(), t + 600, Payload::Close { motion: m, outcome: Outcome::Rejected });
    forged.push(close.clone());
    let bytes = write(&c, &forged);
    let alone = verify_reader(&bytes[..]);
    assert!(alone.valid, "without receipts the forgery verifies: {:?}", alone.errors);
    assert_eq!(alone.councils[0].motions[0].outcome, Some(Outcome::Rejected));

    let r = verify_with(&bytes, vec![("b.receipt".into(), b_receipt.clone())]);
    assert!(!r.valid);
    let rr = &r.receipts[0];
    assert_eq!((rr.verdict, rr.seq, rr.source.as_str()), ("equivocation", 4, "b.receipt"));
    assert_eq!(rr.export_entry, Some(close.id()));
    assert!(r.councils[0].forked);
    assert_eq!(r.equivocations.len(), 1);

    // The same log cut short: the acknowledged entry is missing.
    let r = verify_with(&write(&c, &honest[..3]), vec![("b.receipt".into(), b_receipt.clone())]);
    assert!(!r.valid);
    assert_eq!(r.receipts[0].verdict, "missing");

    // Receipts of another council, or signed by a key that is not the node's, prove nothing.
    let mut other = Council::new("other", 1, &mut clock);
    let t = clock.tick();
    let k = SecretKey::from_seed(&other.keys[0].seed());
    other.b.invite(t, &k, Hash::of(b"f"), &key_from_label("i"), 1, t + 9).unwrap();
    let foreign = receipt_for(&other.b.take_entries()[0]);
    let stranger = {
        let mut e = honest[3].clone();
        e = Signed::sign(e.body, &key_from_label("not the node"));
        receipt_for(&e)
    };
    let r = verify_with(&bytes, vec![("x".into(), foreign), ("y".into(), stranger)]);
    assert!(r.valid, "receipts that prove nothing do not condemn the export: {:?}", r.receipts);
    assert_eq!(r.receipts.iter().map(|r| r.verdict).collect::<Vec<_>>(), ["unknown-council", "not-by-node-key"]);
}

#[test]
fn only_members_who_may_open_motions_issue_invites() {
    use council_core::records::{CouncilRules, Openers};
    let mut clock = Clock(T0);
    let c = Council::new("inv", 2, &mut clock);
    let listed = CouncilRules {
        openers: Openers::Listed(vec![key_from_label("inv-listed/m0").public()]),
        ..CouncilRules::default()
    };
    let l = Council::with_rules("inv-listed", 2, listed, &mut clock);
    let t = clock.tick();
    let invite = |council: &Council, signer: &council_core::SecretKey, max_uses, expires_at| {
        let body = InviteBody {
            council: council.b.id(),
            federation: Hash::of(b"f"),
            invite_key: key_from_label("inv/key").public(),
            max_uses,
            expires_at,
        };
        Payload::Invite(Signed::sign(body, signer))
    };
    assert!(c.try_append(t, invite(&c, &c.keys[1], 1, t + 60)).is_ok());
    let outsider = key_from_label("inv/outsider");
    let e = c.try_append(t, invite(&c, &outsider, 1, t + 60)).unwrap_err();
    assert!(e.to_string().contains("not on the roster"), "{e}");
    // The operator's node key is not a member either.
    let e = c.try_append(t, invite(&c, &key_from_label("inv/node"), 1, t + 60)).unwrap_err();
    assert!(e.to_string().contains("not on the roster"), "{e}");
    assert!(c.try_append(t, invite(&c, &c.keys[0], 0, t + 60)).is_err(), "no uses");
    assert!(c.try_append(t, invite(&c, &c.keys[0], 1, t)).is_err(), "expired");
    // Another council's invite record cannot be replayed into this log.
    assert!(c.try_append(t, invite(&l, &c.keys[0], 1, t + 60)).is_err());
    // Where only listed members open motions, only they issue invites.
    assert!(l.try_append(t, invite(&l, &l.keys[0], 1, t + 60)).is_ok());
    let e = l.try_append(t, invite(&l, &l.keys[1], 1, t + 60)).unwrap_err();
    assert!(e.to_string().contains("may not open"), "{e}");
}
