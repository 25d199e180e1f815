//! A member with several devices (PROTOCOL.md §6.11): each device holds its own key, a
//! ballot from any current device counts as the member's (the latest counts), a lost
//! device is removed by another, and nobody can take up a key they do not hold.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Council, T0};
use council_core::cbor::Cbor;
use council_core::council::{Effect, RecordError};
use council_core::export::verify_reader;
use council_core::records::{
    Action, CouncilRules, DeviceBody, DeviceChange, DeviceProof, DeviceRules, Mandate, MotionForm, Payload, Rule,
    Scope, Share, Signed, Threshold,
};
use council_core::sample::{key_from_label, Clock};
use council_core::verify::{verify_entry, SignatureError};
use council_core::SecretKey;

fn majority() -> Rule {
    Rule { quorum: Share::new(1, 2), threshold: Threshold::SIMPLE_MAJORITY }
}

fn resolution() -> MotionForm {
    MotionForm::YesNo(Action::Resolution)
}

/// Member `i` of the council built by `Council::new(label, ..)`.
fn member(label: &str, i: usize) -> SecretKey {
    key_from_label(&format!("{label}/m{i}"))
}

#[test]
fn a_member_votes_from_two_devices_and_the_latest_ballot_counts() {
    let mut clock = Clock(T0);
    let mut c = Council::new("d", 3, &mut clock);
    let (laptop, phone) = (member("d", 0), key_from_label("d/m0/phone"));
    let id = laptop.public();
    let add = c.b.device_added(&laptop, id, &phone);
    c.b.append(clock.tick(), Payload::Device(add)).unwrap();
    assert_eq!(c.b.state().roster()[&id], vec![laptop.public(), phone.public()]);
    assert_eq!(c.b.state().member_of_key(&phone.public()), Some(id));

    let m = c.b.open(clock.tick(), &laptop, "Q", resolution(), majority(), T0 + 1000).unwrap();
    // Counters belong to the member, whichever device signs.
    c.b.vote(clock.tick(), &laptop, m, 0).unwrap();
    let from_phone = Signed::sign(
        council_core::records::VoteBody { council: c.b.id(), motion: m, choice: 1, counter: 2, is_final: false },
        &phone,
    );
    c.b.append(clock.tick(), Payload::Vote(from_phone)).unwrap();
    let st = c.b.state().open_motion(&m).unwrap();
    assert_eq!(st.counts.counts, vec![0, 1, 0], "one member, one ballot: the phone's, the latest");
    assert_eq!(st.voters(), 1);
    // The laptop's first ballot again: stale, whatever device sends it.
    let stale = Signed::sign(
        council_core::records::VoteBody { council: c.b.id(), motion: m, choice: 0, counter: 1, is_final: false },
        &laptop,
    );
    let err = c.try_append(clock.tick(), Payload::Vote(stale)).unwrap_err();
    assert!(matches!(err, RecordError::StaleCounter { previous: 2, found: 1 }), "{err}");

    // The export verifies, and shows both keys.
    let report = verify_reader(&common::export(&mut [&mut c.b])[..]);
    assert!(report.valid, "{:?}", report.errors);
    let me = report.councils[0].members.iter().find(|r| r.member == id).unwrap();
    assert_eq!(me.keys, vec![laptop.public(), phone.public()]);
    assert_eq!(report.councils[0].stats.device_changes, 1);
}

#[test]
fn only_a_members_own_current_device_adds_a_key_and_only_with_the_new_keys_proof() {
    let mut clock = Clock(T0);
    let c = Council::new("d", 3, &mut clock);
    let (a, b) = (member("d", 0), member("d", 1));
    let phone = key_from_label("d/m0/phone");

    // B signs a record giving A a device (B would plant a key on A): refused.
    let planted = c.b.device_added(&b, a.public(), &phone);
    let err = c.try_append(clock.tick(), Payload::Device(planted)).unwrap_err();
    assert!(matches!(err, RecordError::WrongMember { .. }), "{err}");
    // An outsider's key: not a member at all.
    let outsider = key_from_label("outsider");
    let err = c
        .try_append(clock.tick(), Payload::Device(c.b.device_added(&outsider, outsider.public(), &phone)))
        .unwrap_err();
    assert!(matches!(err, RecordError::NotAMember { .. }), "{err}");

    // A key A does not hold: the proof is signed by another key. The signatures fail.
    let proof = DeviceProof { council: c.b.id(), member: a.public() }.sign(&outsider);
    let change = DeviceChange::Add { device: phone.public(), proof };
    let forged = Signed::sign(DeviceBody { council: c.b.id(), member: a.public(), change }, &a);
    let entry = c.b.forge_conflicting(1, c.b.id(), clock.tick(), Payload::Device(Box::new(forged)));
    assert!(matches!(verify_entry(entry), Err(SignatureError::DeviceProof { .. })));
    // A proof made for another member (or council) does not carry over.
    let for_b = DeviceProof { council: c.b.id(), member: b.public() }.sign(&phone);
    let change = DeviceChange::Add { device: phone.public(), proof: for_b };
    let moved = Signed::sign(DeviceBody { council: c.b.id(), member: a.public(), change }, &a);
    let entry = c.b.forge_conflicting(1, c.b.id(), clock.tick(), Payload::Device(Box::new(moved)));
    assert!(matches!(verify_entry(entry), Err(SignatureError::DeviceProof { .. })));
}

/// A member cannot take up a key that is, or was, any member's: not another member's,
/// not a removed device's, and not one the council is about to admit (whose holder
/// alone could sign the proof in any case).
#[test]
fn a_device_key_must_be_new_to_the_council() {
    let mut clock = Clock(T0);
    let mut c = Council::new("d", 3, &mut clock);
    let (a, b) = (member("d", 0), member("d", 1));
    let err = c.try_append(clock.tick(), Payload::Device(c.b.device_added(&a, a.public(), &b))).unwrap_err();
    assert!(matches!(err, RecordError::DeviceKeyTaken { .. }), "{err}");
    // A's phone, removed, cannot come back (for A or anyone).
    let phone = key_from_label("d/m0/phone");
    c.b.append(clock.tick(), Payload::Device(c.b.device_added(&a, a.public(), &phone))).unwrap();
    c.b.append(clock.tick(), Payload::Device(c.b.device_removed(&a, a.public(), phone.public()))).unwrap();
    let err = c.try_append(clock.tick(), Payload::Device(c.b.device_added(&a, a.public(), &phone))).unwrap_err();
    assert!(matches!(err, RecordError::DeviceKeyTaken { .. }), "{err}");
    let err = c.try_append(clock.tick(), Payload::Device(c.b.device_added(&b, b.public(), &phone))).unwrap_err();
    assert!(matches!(err, RecordError::DeviceKeyTaken { .. }), "{err}");
}

#[test]
fn a_lost_device_is_removed_by_another_and_its_earlier_ballot_stands() {
    let mut clock = Clock(T0);
    let mut c = Council::new("d", 3, &mut clock);
    let (a, b) = (member("d", 0), member("d", 1));
    let phone = key_from_label("d/m0/phone");
    c.b.append(clock.tick(), Payload::Device(c.b.device_added(&a, a.public(), &phone))).unwrap();
    let m = c.b.open(clock.tick(), &a, "Q", resolution(), majority(), T0 + 1000).unwrap();
    c.b.vote(clock.tick(), &phone, m, 0).unwrap();
    // The phone is lost: the laptop removes it.
    c.b.append(clock.tick(), Payload::Device(c.b.device_removed(&a, a.public(), phone.public()))).unwrap();
    assert_eq!(c.b.state().roster()[&a.public()], vec![a.public()]);
    // The phone's ballot still counts; the phone itself can no longer act.
    assert_eq!(c.b.state().motion(&m).unwrap().counts().counts, vec![1, 0, 0]);
    let again = c.b.ballot_as(&phone, m, 1, false);
    let err = c.try_append(clock.tick(), Payload::Vote(again)).unwrap_err();
    assert!(matches!(err, RecordError::NotAMember { .. }), "{err}");
    // Not the member's last key, and not another member's.
    let err = c.try_append(clock.tick(), Payload::Device(c.b.device_removed(&a, a.public(), a.public()))).unwrap_err();
    assert!(matches!(err, RecordError::LastDevice), "{err}");
    let err = c.try_append(clock.tick(), Payload::Device(c.b.device_removed(&a, a.public(), b.public()))).unwrap_err();
    assert!(matches!(err, RecordError::NotOwnDevice { .. }), "{err}");
    let report = verify_reader(&common::export(&mut [&mut c.b])[..]);
    assert!(report.valid, "{:?}", report.errors);
    assert_eq!(report.councils[0].stats.device_changes, 2);
}

#[test]
fn the_council_limits_devices_per_member() {
    let mut clock = Clock(T0);
    let rules = CouncilRules { devices: DeviceRules { limit: 2, by_act: false }, ..CouncilRules::default() };
    let mut c = Council::with_rules("d", 3, rules, &mut clock);
    let a = member("d", 0);
    let (phone, tablet) = (key_from_label("d/m0/phone"), key_from_label("d/m0/tablet"));
    c.b.append(clock.tick(), Payload::Device(c.b.device_added(&a, a.public(), &phone))).unwrap();
    let err = c.try_append(clock.tick(), Payload::Device(c.b.device_added(&phone, a.public(), &tablet))).unwrap_err();
    assert!(matches!(err, RecordError::TooManyDevices { limit: 2 }), "{err}");
    // Removing one makes room.
    c.b.append(clock.tick(), Payload::Device(c.b.device_removed(&phone, a.public(), a.public()))).unwrap();
    c.b.append(clock.tick(), Payload::Device(c.b.device_added(&phone, a.public(), &tablet))).unwrap();
    assert_eq!(c.b.state().roster()[&a.public()], vec![phone.public(), tablet.public()]);
}

/// Where the rules say so, a device is added only by a council act; the member's own
/// record is refused. Removing one's own device stays the member's own business.
#[test]
fn where_the_rules_say_so_a_device_is_added_by_council_act_only() {
    let mut clock = Clock(T0);
    let rules = CouncilRules { devices: DeviceRules { limit: 2, by_act: true }, ..CouncilRules::default() };
    let mut c = Council::with_rules("d", 3, rules, &mut clock);
    let keys: Vec<SecretKey> = (0..3).map(|i| member("d", i)).collect();
    let voters: Vec<&SecretKey> = keys.iter().collect();
    let a = &keys[0];
    let phone = key_from_label("d/m0/phone");
    let err = c.try_append(clock.tick(), Payload::Device(c.b.device_added(a, a.public(), &phone))).unwrap_err();
    assert!(matches!(err, RecordError::DevicesByAct), "{err}");

    let proof = DeviceProof { council: c.b.id(), member: a.public() }.sign(&phone);
    let act = Action::AddDevice { member: a.public(), device: phone.public(), proof };
    let (_, effect) = c.b.pass(&mut clock, &voters, "Add Ana's phone", act).unwrap();
    assert_eq!(effect, Effect::Applied);
    assert_eq!(c.b.state().roster()[&a.public()], vec![a.public(), phone.public()]);

    // An act past the limit by the time it passes is void.
    let tablet = key_from_label("d/m0/tablet");
    let proof = DeviceProof { council: c.b.id(), member: a.public() }.sign(&tablet);
    let act = Action::AddDevice { member: a.public(), device: tablet.public(), proof };
    let (_, effect) = c.b.pass(&mut clock, &voters, "Add Ana's tablet", act).unwrap();
    assert!(matches!(effect, Effect::Void(ref r) if r.contains("at most 2")), "{effect:?}");
    // An act whose proof is not the device's does not verify.
    let proof = DeviceProof { council: c.b.id(), member: a.public() }.sign(a);
    let act = Action::AddDevice { member: a.public(), device: tablet.public(), proof };
    let body = council_core::records::MotionBody {
        council: c.b.id(),
        title: "Add a key nobody showed".into(),
        form: MotionForm::YesNo(act),
        rule: c.b.state().rules().act_rule,
        closes_at: T0 + 10_000,
        nonce: 99,
    };
    let st = c.b.state();
    let entry =
        c.b.forge_conflicting(st.seq() + 1, st.head(), clock.tick(), Payload::Motion(Box::new(Signed::sign(body, a))));
    assert!(matches!(verify_entry(entry), Err(SignatureError::DeviceProof { .. })));
    // Removing a device by the member's own record still works.
    c.b.append(clock.tick(), Payload::Device(c.b.device_removed(a, a.public(), phone.public()))).unwrap();
    let report = verify_reader(&common::export(&mut [&mut c.b])[..]);
    assert!(report.valid, "{:?}", report.errors);
}

#[test]
fn a_delegate_votes_from_a_second_device_and_rotate_key_replaces_every_device() {
    let mut clock = Clock(T0);
    let mut c = Council::new("d", 3, &mut clock);
    let keys: Vec<SecretKey> = (0..3).map(|i| member("d", i)).collect();
    let voters: Vec<&SecretKey> = keys.iter().collect();
    let delegate = &keys[2];
    let phone = key_from_label("d/m2/phone");
    c.b.append(clock.tick(), Payload::Device(c.b.device_added(delegate, delegate.public(), &phone))).unwrap();
    let fed = council_core::Hash::of(b"a federation");
    let mandate = Mandate {
        delegate: delegate.public(),
        federation: fed,
        scope: Scope::All,
        instructions: vec![],
        expires_at: T0 + 1_000_000,
    };
    let (mid, _) = c.b.pass(&mut clock, &voters, "Mandate", Action::Mandate(mandate)).unwrap();
    c.b.delegate_vote(clock.tick(), &phone, fed, council_core::Hash::of(b"fm"), mid, 0).unwrap();
    // The council replaces the delegate's keys: both devices give way to the new key.
    let new = key_from_label("d/m2/new");
    c.b.pass(
        &mut clock,
        &voters[..2],
        "Rotate",
        Action::RotateKey { member: delegate.public(), new_key: new.public() },
    )
    .unwrap();
    assert_eq!(c.b.state().roster()[&delegate.public()], vec![new.public()]);
    let err = c.b.delegate_vote(clock.tick(), &phone, fed, council_core::Hash::of(b"fm"), mid, 1).unwrap_err();
    assert!(matches!(err, RecordError::NotTheDelegate { .. }), "{err}");
    c.b.delegate_vote(clock.tick(), &new, fed, council_core::Hash::of(b"fm"), mid, 1).unwrap();
}

#[test]
fn device_rules_are_encoded_only_when_not_the_default() {
    let default = CouncilRules::default();
    let bytes = default.to_cbor();
    assert_eq!(bytes[0], 0x83, "three elements: a genesis from before device rules keeps its id");
    let strict = CouncilRules { devices: DeviceRules { limit: 1, by_act: true }, ..CouncilRules::default() };
    let b = strict.to_cbor();
    assert_eq!(b[0], 0x84);
    assert_eq!(CouncilRules::from_cbor(&b).unwrap(), strict);
    // The default written out is not canonical.
    let mut spelled = bytes.clone();
    spelled[0] = 0x84;
    spelled.extend_from_slice(&DeviceRules::DEFAULT.to_cbor());
    assert!(CouncilRules::from_cbor(&spelled).is_err());
    // No device at all is not a rule a council can have.
    let none = CouncilRules { devices: DeviceRules { limit: 0, by_act: false }, ..CouncilRules::default() };
    assert!(!none.is_valid());
}

/// The review's attack: member A moves an act giving member B a device key that A holds.
/// Refused: a device is added only for the member who moves it. And an act moved by a
/// key that is replaced before it passes (a stolen device, rotated away) is void.
#[test]
fn an_add_device_act_is_for_its_mover_alone_and_dies_with_the_moving_key() {
    let mut clock = Clock(T0);
    let rules = CouncilRules { devices: DeviceRules { limit: 3, by_act: true }, ..CouncilRules::default() };
    let mut c = Council::with_rules("d", 3, rules, &mut clock);
    let keys: Vec<SecretKey> = (0..3).map(|i| member("d", i)).collect();
    let voters: Vec<&SecretKey> = keys.iter().collect();
    let (a, b) = (&keys[0], &keys[1]);
    let rule = c.b.state().rules().act_rule;
    let a_holds = key_from_label("d/a-holds-this");
    let proof = DeviceProof { council: c.b.id(), member: b.public() }.sign(&a_holds);
    let act = Action::AddDevice { member: b.public(), device: a_holds.public(), proof };
    let t = clock.tick();
    let err = c.b.open(t, a, "Give B a device", MotionForm::YesNo(act), rule, t + 1000).unwrap_err();
    assert!(matches!(err, RecordError::WrongMember { .. }), "{err}");
    // A key already used in the council cannot be moved in by act either.
    let proof = DeviceProof { council: c.b.id(), member: a.public() }.sign(b);
    let act = Action::AddDevice { member: a.public(), device: b.public(), proof };
    let err = c.b.open(t, a, "Take B's key", MotionForm::YesNo(act), rule, t + 1000).unwrap_err();
    assert!(matches!(err, RecordError::DeviceKeyTaken { .. }), "{err}");

    // A thief holding A's only key moves to add a key of their own; the council rotates
    // A's key first; the thief's act, passing later, is void.
    let thief = key_from_label("d/thief");
    let proof = DeviceProof { council: c.b.id(), member: a.public() }.sign(&thief);
    let act = Action::AddDevice { member: a.public(), device: thief.public(), proof };
    let t = clock.tick();
    let sneaky = c.b.open(t, a, "Add my new phone", MotionForm::YesNo(act), rule, t + 1000).unwrap();
    let fresh = key_from_label("d/m0/fresh");
    c.b.pass(&mut clock, &voters[1..], "Rotate A", Action::RotateKey { member: a.public(), new_key: fresh.public() })
        .unwrap();
    for v in &voters[1..] {
        c.b.vote_final(clock.tick(), v, sneaky, 0).unwrap();
    }
    c.b.close(clock.tick(), sneaky).unwrap();
    let st = c.b.state().motion(&sneaky).unwrap();
    assert!(
        matches!(&st.status(), council_core::council::MotionStatus::Closed { effect: Effect::Void(r), .. } if r.contains("no longer")),
        "{:?}",
        st.status()
    );
    assert_eq!(c.b.state().roster()[&a.public()], vec![fresh.public()]);
}
