//! A council amends its own rules by a council act (PROTOCOL.md §6.12): passed under the
//! rules in force when the act opens (an amendment rule of its own, if the genesis sets a
//! stricter one), applied from the next entry on, and reported by `verify`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Council, T0};
use council_core::cbor::Cbor;
use council_core::council::{Effect, RecordError};
use council_core::export::verify_reader;
use council_core::records::{
    Action, CouncilRules, DeviceRules, MotionBody, MotionForm, Openers, Payload, Rule, Share, Signed, Threshold,
};
use council_core::sample::{key_from_label, Clock};
use council_core::SecretKey;

fn keys(label: &str, n: usize) -> Vec<SecretKey> {
    (0..n).map(|i| key_from_label(&format!("{label}/m{i}"))).collect()
}

fn two_thirds() -> Rule {
    Rule { quorum: Share::new(2, 3), threshold: Threshold::TWO_THIRDS }
}

#[test]
fn an_amendment_changes_the_act_rule_from_the_next_entry_on() {
    let mut clock = Clock(T0);
    let mut c = Council::new("a", 5, &mut clock);
    let k = keys("a", 5);
    let all: Vec<&SecretKey> = k.iter().collect();
    // An act opened under the old rule before the amendment passes.
    let t = clock.tick();
    let old_rule = c.b.state().rules().act_rule;
    let early =
        c.b.open(
            t,
            &k[0],
            "Admit X",
            MotionForm::YesNo(Action::AddMember(key_from_label("x").public())),
            old_rule,
            t + 1000,
        )
        .unwrap();
    let stricter = CouncilRules { act_rule: two_thirds(), ..c.b.state().rules().clone() };
    let (amend, effect) =
        c.b.pass(&mut clock, &all, "Acts need two thirds", Action::AmendRules(stricter.clone())).unwrap();
    assert_eq!(effect, Effect::Applied);
    assert_eq!(c.b.state().rules(), &stricter);
    // From now on an act must carry the new rule…
    let t = clock.tick();
    let err =
        c.b.open(
            t,
            &k[0],
            "Admit Y",
            MotionForm::YesNo(Action::AddMember(key_from_label("y").public())),
            old_rule,
            t + 1000,
        )
        .unwrap_err();
    assert!(matches!(err, RecordError::InvalidMotion(_)), "{err}");
    // …and the act opened before still stands under the rule it was opened with.
    for v in &all[..3] {
        c.b.vote_final(clock.tick(), v, early, 0).unwrap();
    }
    c.b.close(clock.tick(), early).unwrap();
    let report = verify_reader(&common::export(&mut [&mut c.b])[..]);
    assert!(report.valid, "{:?}", report.errors);
    let cr = &report.councils[0];
    assert_eq!(cr.rules, stricter);
    assert_eq!(cr.rule_changes.len(), 1);
    assert_eq!(cr.rule_changes[0].motion, amend);
    assert_eq!(cr.stats.rule_changes, 1);
}

/// The genesis may make amendments stricter than ordinary acts: an amendment opened with
/// the ordinary act rule is refused, one with the amendment rule passes.
#[test]
fn an_amendment_under_the_wrong_rule_is_refused() {
    let mut clock = Clock(T0);
    let rules = CouncilRules { amend_rule: Some(two_thirds()), ..CouncilRules::default() };
    let mut c = Council::with_rules("a", 3, rules.clone(), &mut clock);
    let k = keys("a", 3);
    let all: Vec<&SecretKey> = k.iter().collect();
    let new = CouncilRules { petition: Threshold::TWO_THIRDS, ..rules.clone() };
    let t = clock.tick();
    let body = MotionBody {
        council: c.b.id(),
        title: "Lighter petitions, quietly".into(),
        form: MotionForm::YesNo(Action::AmendRules(new.clone())),
        rule: rules.act_rule,
        closes_at: t + 1000,
        nonce: 7,
    };
    let err = c.try_append(t, Payload::Motion(Box::new(Signed::sign(body, &k[0])))).unwrap_err();
    assert!(matches!(err, RecordError::InvalidMotion(m) if m.contains("amendment rule")), "{err}");
    let (_, effect) = c.b.pass(&mut clock, &all, "Petitions need two thirds", Action::AmendRules(new.clone())).unwrap();
    assert_eq!(effect, Effect::Applied);
    assert_eq!(c.b.state().rules().petition, Threshold::TWO_THIRDS);
    // The amendment rule survives in the new rules, and round-trips in its encoding.
    assert_eq!(CouncilRules::from_cbor(&new.to_cbor()).unwrap(), new);
}

#[test]
fn who_may_open_motions_is_amended_and_applies_at_once() {
    let mut clock = Clock(T0);
    let mut c = Council::new("a", 3, &mut clock);
    let k = keys("a", 3);
    let all: Vec<&SecretKey> = k.iter().collect();
    let only_first = CouncilRules { openers: Openers::Listed(vec![k[0].public()]), ..CouncilRules::default() };
    c.b.pass(&mut clock, &all, "Only the secretary opens motions", Action::AmendRules(only_first)).unwrap();
    let simple = Rule { quorum: Share::new(1, 2), threshold: Threshold::SIMPLE_MAJORITY };
    let t = clock.tick();
    let err = c.b.open(t, &k[1], "Q", MotionForm::YesNo(Action::Resolution), simple, t + 100).unwrap_err();
    assert!(matches!(err, RecordError::MayNotOpen { .. }), "{err}");
    c.b.open(t, &k[0], "Q", MotionForm::YesNo(Action::Resolution), simple, t + 100).unwrap();
}

#[test]
fn an_amendment_that_names_a_stranger_or_changes_nothing_is_refused_or_void() {
    let mut clock = Clock(T0);
    let mut c = Council::new("a", 3, &mut clock);
    let k = keys("a", 3);
    let all: Vec<&SecretKey> = k.iter().collect();
    let act = c.b.state().rules().act_rule;
    let open = |rules: CouncilRules, c: &Council, t: u64| {
        let body = MotionBody {
            council: c.b.id(),
            title: "Amend".into(),
            form: MotionForm::YesNo(Action::AmendRules(rules)),
            rule: act,
            closes_at: t + 1000,
            nonce: t,
        };
        c.try_append(t, Payload::Motion(Box::new(Signed::sign(body, &k[0]))))
    };
    let stranger =
        CouncilRules { openers: Openers::Listed(vec![key_from_label("stranger").public()]), ..CouncilRules::default() };
    let err = open(stranger, &c, clock.tick()).unwrap_err();
    assert!(matches!(err, RecordError::InvalidAmendment(_)), "{err}");
    let err = open(CouncilRules::default(), &c, clock.tick()).unwrap_err();
    assert!(matches!(err, RecordError::InvalidAmendment(_)), "{err}");
    let none = CouncilRules { devices: DeviceRules { limit: 0, by_act: false }, ..CouncilRules::default() };
    assert!(matches!(open(none, &c, clock.tick()).unwrap_err(), RecordError::InvalidAmendment(_)));
    // Member 2 is the only listed opener; removed before the amendment passes: void.
    let t = clock.tick();
    let only_2 = CouncilRules { openers: Openers::Listed(vec![k[2].public()]), ..CouncilRules::default() };
    let amend =
        c.b.open(t, &k[0], "Only 2 opens", MotionForm::YesNo(Action::AmendRules(only_2)), act, t + 1000).unwrap();
    c.b.pass(&mut clock, &all[..2], "Remove 2", Action::RemoveMember(k[2].public())).unwrap();
    for v in &all[..2] {
        c.b.vote_final(clock.tick(), v, amend, 0).unwrap();
    }
    c.b.close(clock.tick(), amend).unwrap();
    let st = c.b.state().motion(&amend).unwrap();
    assert!(
        matches!(&st.status(), council_core::council::MotionStatus::Closed { effect: Effect::Void(r), .. } if r.contains("roster"))
    );
    assert_eq!(c.b.state().rules(), &CouncilRules::default());
}

#[test]
fn amended_petition_and_device_rules_apply_to_what_follows() {
    let mut clock = Clock(T0);
    let mut c = Council::new("a", 4, &mut clock);
    let k = keys("a", 4);
    let all: Vec<&SecretKey> = k.iter().collect();
    let rules = CouncilRules {
        petition: Threshold { num: 1, den: 4, strict: false },
        devices: DeviceRules { limit: 1, by_act: false },
        ..CouncilRules::default()
    };
    c.b.pass(&mut clock, &all, "A quarter recalls; one device each", Action::AmendRules(rules)).unwrap();
    let phone = key_from_label("a/m0/phone");
    let add = c.b.device_added(&k[0], k[0].public(), &phone);
    let err = c.try_append(clock.tick(), Payload::Device(add)).unwrap_err();
    assert!(matches!(err, RecordError::TooManyDevices { limit: 1 }), "{err}");
    let mandate = council_core::records::Mandate {
        delegate: k[3].public(),
        federation: council_core::Hash::of(b"f"),
        scope: council_core::records::Scope::All,
        instructions: vec![],
        expires_at: T0 + 1_000_000,
    };
    let (mid, _) = c.b.pass(&mut clock, &all, "Mandate", Action::Mandate(mandate)).unwrap();
    c.b.petition(clock.tick(), &k[0], mid).unwrap();
    assert!(c.b.state().mandate(&mid).unwrap().recalled.is_some(), "one of four is a quarter: recalled");
}

/// The review's case: amendment A is moved under the simple act rule; amendment B then
/// passes and makes amendments need unanimity. A, passing later under the rule it
/// carries, would replace the rules whole and undo B: it is void.
#[test]
fn an_amendment_moved_before_another_passed_cannot_undo_it() {
    let mut clock = Clock(T0);
    let mut c = Council::new("a", 3, &mut clock);
    let k = keys("a", 3);
    let all: Vec<&SecretKey> = k.iter().collect();
    let act = c.b.state().rules().act_rule;
    let lighter = CouncilRules { petition: Threshold { num: 1, den: 3, strict: false }, ..CouncilRules::default() };
    let t = clock.tick();
    let a =
        c.b.open(t, &k[0], "Lighter petitions", MotionForm::YesNo(Action::AmendRules(lighter)), act, t + 1000).unwrap();
    let unanimity = Rule { quorum: Share::new(1, 1), threshold: Threshold::UNANIMITY };
    let strict = CouncilRules { amend_rule: Some(unanimity), ..CouncilRules::default() };
    c.b.pass(&mut clock, &all, "Amendments need everyone", Action::AmendRules(strict.clone())).unwrap();
    for v in &all[..2] {
        c.b.vote_final(clock.tick(), v, a, 0).unwrap();
    }
    c.b.close(clock.tick(), a).unwrap();
    let st = c.b.state().motion(&a).unwrap();
    assert!(
        matches!(&st.status(), council_core::council::MotionStatus::Closed { effect: Effect::Void(r), .. } if r.contains("amended after")),
        "{:?}",
        st.status()
    );
    assert_eq!(c.b.state().rules(), &strict, "the stricter amendment rule stands");
}
