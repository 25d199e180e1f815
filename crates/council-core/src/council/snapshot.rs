//! Snapshots of a [`CouncilState`]: the state after replaying a prefix of the log, kept by a
//! node beside its log so that it need not replay the whole log at every start.
//!
//! A snapshot is a local cache, not a protocol record: nothing signs it, no peer ever sees
//! it, and only the build that wrote it reads it (it names the crate version; a snapshot
//! from any other build is refused, and the node replays its log instead, so a release that
//! changes a rule never trusts state computed by the old rule). The node checks a snapshot
//! against its log before use (the stored entry at the snapshot's sequence number must be
//! the snapshot's head) and replays the log from the start whenever anything is off.
//!
//! The encoding is the canonical CBOR subset of [`crate::cbor`], with every map written in
//! key order, so equal states give equal bytes. Encoding destructures each struct in full:
//! a field added to the state that the snapshot does not carry is a compile error here.

use std::collections::HashMap;

use thiserror::Error;

use super::{
    Ballot, BallotBox, ClosedMotion, CouncilState, Effect, FedEvent, FedEventKind, MandateState, MotionState,
    RecallKind, RuleChange, Stats,
};
use crate::cbor::{Cbor, Decoder, Encoder};
use crate::error::DecodeError;
use crate::hash::Hash;
use crate::keys::PublicKey;
use crate::records::{
    Action, Charter, CouncilId, DelegateVoteBody, FederationMotion, Genesis, InviteProof, Mandate, MotionBody,
};
use crate::tally::{Counts, Form};
use crate::verify::Verified;

/// The snapshot format's tag.
const FORMAT: &str = "councilnet-state/7";
/// The build that writes and reads snapshots.
const BUILD: &str = env!("CARGO_PKG_VERSION");

/// Why a snapshot cannot be used (the log is replayed instead).
#[derive(Debug, Error)]
pub enum SnapshotError {
    #[error("it was written by another build ({0}; this is {BUILD})")]
    OtherBuild(String),
    #[error("it is of another council ({0})")]
    OtherCouncil(CouncilId),
    #[error("the genesis does not start a council: {0}")]
    Genesis(#[from] super::RecordError),
    #[error("it does not decode: {0}")]
    Decode(#[from] DecodeError),
}

/// A map's entries in key order.
fn sorted<K: Ord, V>(m: &HashMap<K, V>) -> Vec<(&K, &V)> {
    let mut v: Vec<(&K, &V)> = m.iter().collect();
    v.sort_unstable_by_key(|e| e.0);
    v
}

/// Writes `[[a, b], …]`.
fn pairs<'x, A: Cbor + 'x, B: Cbor + 'x>(e: &mut Encoder, items: impl ExactSizeIterator<Item = (&'x A, &'x B)>) {
    e.array(items.len());
    for (a, b) in items {
        e.array(2).value(a).value(b);
    }
}

/// Reads an array into any collection, each item with `item`. Nothing is reserved ahead
/// from the array's stated length, so a corrupt length cannot make us allocate.
fn items<'a, T, C: FromIterator<T>>(
    d: &mut Decoder<'a>,
    mut item: impl FnMut(&mut Decoder<'a>) -> Result<T, DecodeError>,
) -> Result<C, DecodeError> {
    let n = d.array(usize::MAX)?;
    (0..n).map(|_| item(d)).collect()
}

/// Reads `[a, b]`.
fn pair<A: Cbor, B: Cbor>(d: &mut Decoder<'_>) -> Result<(A, B), DecodeError> {
    d.array_exact(2)?;
    Ok((d.value()?, d.value()?))
}

impl CouncilState {
    /// Encodes the whole state (see the module documentation).
    pub fn snapshot(&self) -> Vec<u8> {
        let CouncilState {
            id,
            genesis: _, // the store holds the genesis; restore starts from it
            node_key,
            node_keys,
            seq,
            head,
            time,
            roster,
            joined,
            by_key,
            used_keys,
            motions,
            voters,
            closed,
            motion_order,
            mandates,
            mandate_order,
            current_mandate,
            delegate_counters,
            federation_vote_counters,
            fed_events,
            names,
            rules,
            rule_changes,
            stats,
            recent,
            partial,
        } = self;
        let e = &mut Encoder::default();
        e.array(28).text(FORMAT).text(BUILD).value(id).value(node_key);
        pairs(e, node_keys.iter().map(|(from, k)| (from, k)));
        e.u64(*seq).value(head).u64(*time);
        e.array(roster.len());
        for (m, keys) in roster {
            e.array(2).value(m).list(keys);
        }
        pairs(e, sorted(joined).into_iter());
        pairs(e, sorted(by_key).into_iter());
        let mut used: Vec<&PublicKey> = used_keys.iter().collect();
        used.sort_unstable();
        e.array(used.len());
        for k in used {
            e.value(k);
        }
        // The members' numbers, in order: the ballot boxes name members by number.
        e.array(voters.ids().len());
        for member in voters.ids() {
            e.bytes(member);
        }
        let motions = sorted(motions);
        e.array(motions.len());
        for (_, m) in motions {
            encode_motion(e, m);
        }
        e.array(closed.len());
        for m in closed.values() {
            encode_closed(e, m);
        }
        e.list(motion_order);
        let mandates = sorted(mandates);
        e.array(mandates.len());
        for (_, m) in mandates {
            encode_mandate(e, m);
        }
        e.list(mandate_order);
        pairs(e, sorted(current_mandate).into_iter());
        pairs(e, sorted(delegate_counters).into_iter());
        pairs(e, sorted(federation_vote_counters).into_iter());
        e.array(fed_events.len());
        for ev in fed_events {
            encode_fed_event(e, ev);
        }
        e.array(names.len());
        for (m, name) in names {
            e.array(2).value(m).text(name);
        }
        let Stats {
            entries,
            motions,
            ballots,
            ballots_changed,
            petition_signatures,
            delegate_votes,
            roster_changes,
            device_changes,
            rule_changes: rule_change_count,
        } = stats;
        e.value(rules);
        e.array(rule_changes.len());
        for c in rule_changes {
            e.array(4).u64(c.seq).u64(c.time).value(&c.motion).value(&c.rules);
        }
        e.array(9)
            .u64(*entries)
            .u64(*motions)
            .u64(*ballots)
            .u64(*ballots_changed)
            .u64(*petition_signatures)
            .u64(*delegate_votes)
            .u64(*roster_changes)
            .u64(*device_changes)
            .u64(*rule_change_count);
        pairs(e, recent.iter().map(|(s, h)| (s, h)));
        e.bool(*partial);
        std::mem::take(e).into_bytes()
    }

    /// Restores a state from [`CouncilState::snapshot`] bytes, for the council of `genesis`.
    /// Refuses a snapshot of another build or another council, and anything that does not
    /// decode; it does not check the state against the log (the caller does).
    pub fn restore(genesis: Verified<Genesis>, bytes: &[u8]) -> Result<CouncilState, SnapshotError> {
        let mut s = CouncilState::new(genesis)?;
        let d = &mut Decoder::new(bytes);
        d.array_exact(28)?;
        d.tag(FORMAT)?;
        let build = d.text()?;
        if build != BUILD {
            return Err(SnapshotError::OtherBuild(build.to_owned()));
        }
        let id: Hash = d.value()?;
        if id != s.id {
            return Err(SnapshotError::OtherCouncil(id));
        }
        s.node_key = d.value()?;
        s.node_keys = items(d, pair)?;
        s.seq = d.u64()?;
        s.head = d.value()?;
        s.time = d.u64()?;
        s.roster = items(d, |d| {
            d.array_exact(2)?;
            Ok((d.value()?, d.list(usize::MAX)?))
        })?;
        s.joined = items(d, pair)?;
        s.by_key = items(d, pair)?;
        s.used_keys = items(d, |d| d.value())?;
        let numbered: Vec<[u8; 32]> = items(d, |d| d.bytes_fixed::<32>())?;
        for (i, member) in numbered.iter().enumerate() {
            if s.voters.intern(member) as usize != i {
                return Err(DecodeError::OutOfRange { at: d.position(), what: "a member numbered twice" }.into());
            }
        }
        let voters = numbered.len();
        s.motions = items(d, |d| decode_motion(d, voters).map(|m| (m.id, m)))?;
        s.closed = items(d, |d| decode_closed(d).map(|m| (m.id, m)))?;
        s.motion_order = items(d, |d| d.value())?;
        s.mandates = items(d, |d| decode_mandate(d).map(|m| (m.id, m)))?;
        s.mandate_order = items(d, |d| d.value())?;
        s.current_mandate = items(d, pair)?;
        s.delegate_counters = items(d, pair)?;
        s.federation_vote_counters = items(d, pair)?;
        s.fed_events = items(d, decode_fed_event)?;
        s.names = items(d, |d| {
            d.array_exact(2)?;
            Ok((d.value()?, d.text()?.to_owned()))
        })?;
        s.rules = d.value()?;
        s.rule_changes = items(d, |d| {
            d.array_exact(4)?;
            Ok(RuleChange { seq: d.u64()?, time: d.u64()?, motion: d.value()?, rules: d.value()? })
        })?;
        d.array_exact(9)?;
        s.stats = Stats {
            entries: d.u64()?,
            motions: d.u64()?,
            ballots: d.u64()?,
            ballots_changed: d.u64()?,
            petition_signatures: d.u64()?,
            delegate_votes: d.u64()?,
            roster_changes: d.u64()?,
            device_changes: d.u64()?,
            rule_changes: d.u64()?,
        };
        s.recent = items(d, pair)?;
        s.partial = d.bool()?;
        d.finish()?;
        Ok(s)
    }
}

/// Writes an open motion; its ballot box names members by their numbers.
fn encode_motion(e: &mut Encoder, m: &MotionState) {
    let MotionState {
        id,
        body,
        opener,
        opened_by,
        opened_at,
        opened_seq,
        position,
        counts,
        fixed: _,
        ballots_received,
        ballots_changed,
        latest,
        rankings,
    } = m;
    e.array(12).value(id).value(body).value(opener).value(opened_by).u64(*opened_at).u64(*opened_seq).u64(*position);
    let Counts { counts, electorate } = counts;
    e.array(2).list(counts).u64(*electorate);
    e.u64(*ballots_received).u64(*ballots_changed);
    e.array(latest.len());
    // The final ballots' counts are rebuilt from the ballots.
    for (voter, b) in latest.iter() {
        e.array(4).u64(voter.into()).u64(b.choice.into()).u64(b.counter).bool(b.is_final);
    }
    let rankings = sorted(rankings);
    e.array(rankings.len());
    for (voter, r) in rankings {
        e.array(2).u64((*voter).into()).array(r.len());
        for o in r {
            e.u64((*o).into());
        }
    }
}

fn encode_effect(e: &mut Encoder, effect: &Effect) {
    match effect {
        Effect::None => e.array(1).text("none"),
        Effect::Applied => e.array(1).text("applied"),
        Effect::Void(reason) => e.array(2).text("void").text(reason),
    };
}

fn decode_effect(d: &mut Decoder<'_>) -> Result<Effect, DecodeError> {
    let pos = d.position();
    let n = d.array(2)?;
    Ok(match (d.text()?, n) {
        ("none", 1) => Effect::None,
        ("applied", 1) => Effect::Applied,
        ("void", 2) => Effect::Void(d.text()?.to_owned()),
        (other, _) => return Err(DecodeError::UnknownVariant { at: pos, found: other.chars().take(64).collect() }),
    })
}

fn encode_closed(e: &mut Encoder, m: &ClosedMotion) {
    let ClosedMotion {
        id,
        title,
        kind,
        options,
        rule,
        opened_at,
        opened_seq,
        position,
        closes_at,
        outcome,
        at,
        early,
        effect,
        counts,
        pairwise,
        ballots_received,
        ballots_changed,
    } = m;
    e.array(15).value(id).text(title).text(kind).list(options).value(rule);
    e.u64(*opened_at).u64(*opened_seq).u64(*position).u64(*closes_at);
    e.array(3).value(outcome).u64(*at).bool(*early);
    encode_effect(e, effect);
    let Counts { counts, electorate } = counts;
    e.array(2).list(counts).u64(*electorate);
    e.array(pairwise.len());
    for row in pairwise {
        e.list(row);
    }
    e.u64(*ballots_received).u64(*ballots_changed);
}

fn decode_closed(d: &mut Decoder<'_>) -> Result<ClosedMotion, DecodeError> {
    d.array_exact(15)?;
    let id = d.value()?;
    let title = d.text()?.to_owned();
    let at = d.position();
    let kind = d.text()?;
    let kind = ["choice", "ranked"]
        .into_iter()
        .chain(Action::KINDS)
        .find(|k| *k == kind)
        .ok_or_else(|| DecodeError::UnknownVariant { at, found: kind.chars().take(64).collect() })?;
    let options: Vec<String> = d.list(usize::MAX)?;
    let rule = d.value()?;
    let (opened_at, opened_seq, position, closes_at) = (d.u64()?, d.u64()?, d.u64()?, d.u64()?);
    d.array_exact(3)?;
    let (outcome, closed_at, early) = (d.value()?, d.u64()?, d.bool()?);
    let effect = decode_effect(d)?;
    d.array_exact(2)?;
    let counts = Counts { counts: d.list(usize::MAX)?, electorate: d.u64()? };
    let pairwise: Vec<Vec<u64>> = items(d, |d| d.list(usize::MAX))?;
    let m = ClosedMotion {
        id,
        title,
        kind,
        options,
        rule,
        opened_at,
        opened_seq,
        position,
        closes_at,
        outcome,
        at: closed_at,
        early,
        effect,
        counts,
        pairwise,
        ballots_received: d.u64()?,
        ballots_changed: d.u64()?,
    };
    let at = d.position();
    let n = match m.form() {
        Form::YesNo if m.options.is_empty() => 2,
        Form::Choice | Form::Ranked if !m.options.is_empty() => m.options.len(),
        _ => return Err(DecodeError::OutOfRange { at, what: "options that do not fit the motion's kind" }),
    };
    if m.counts.counts.len() != n + 1 {
        return Err(DecodeError::OutOfRange { at, what: "counts that do not fit the motion's options" });
    }
    let square = if m.form() == Form::Ranked { n } else { 0 };
    if m.pairwise.len() != square || m.pairwise.iter().any(|r| r.len() != square) {
        return Err(DecodeError::OutOfRange { at, what: "a pairwise matrix of the wrong size" });
    }
    Ok(m)
}

/// Reads an open motion whose ballot box numbers members below `voters`.
fn decode_motion(d: &mut Decoder<'_>, voters: usize) -> Result<MotionState, DecodeError> {
    d.array_exact(12)?;
    let id = d.value()?;
    let body: MotionBody = d.value()?;
    let opener = d.value()?;
    let opened_by = d.value()?;
    let opened_at = d.u64()?;
    let opened_seq = d.u64()?;
    let position = d.u64()?;
    d.array_exact(2)?;
    let counts = Counts { counts: d.list(usize::MAX)?, electorate: d.u64()? };
    let ballots_received = d.u64()?;
    let ballots_changed = d.u64()?;
    if counts.counts.len() != body.form.option_count() as usize + 1 {
        return Err(DecodeError::OutOfRange { at: d.position(), what: "counts that do not fit the motion's options" });
    }
    let voter = |d: &mut Decoder<'_>| -> Result<u32, DecodeError> {
        let at = d.position();
        let v = d.u32()?;
        if v as usize >= voters {
            return Err(DecodeError::OutOfRange { at, what: "a member's number" });
        }
        Ok(v)
    };
    let latest: BallotBox = items(d, |d| {
        d.array_exact(4)?;
        let voter = voter(d)?;
        let at = d.position();
        let b = Ballot { choice: d.u32()?, counter: d.u64()?, is_final: d.bool()? };
        if b.choice as usize >= counts.counts.len() {
            return Err(DecodeError::OutOfRange { at, what: "a ballot's choice" });
        }
        Ok((voter, b))
    })?;
    let rankings = items(d, |d| {
        d.array_exact(2)?;
        Ok((voter(d)?, items(d, |d| d.u32())?))
    })?;
    let at = d.position();
    let bad = DecodeError::OutOfRange { at, what: "a ranking that the motion cannot hold" };
    let options = body.form.option_count();
    let rankings: HashMap<u32, Vec<u32>> = rankings;
    if rankings.values().any(|r| !body.form.is_ranked() || super::check_ranking(r, options).is_err()) {
        return Err(bad);
    }
    let mut fixed = Counts::new(counts.options() as u32, counts.electorate);
    for b in latest.values().filter(|b| b.is_final) {
        let slot = fixed
            .counts
            .get_mut(b.choice as usize)
            .ok_or(DecodeError::OutOfRange { at: 0, what: "a ballot's choice" })?;
        *slot += 1;
    }
    Ok(MotionState {
        id,
        body,
        opener,
        opened_by,
        opened_at,
        opened_seq,
        position,
        counts,
        fixed,
        ballots_received,
        ballots_changed,
        latest,
        rankings,
    })
}

fn encode_mandate(e: &mut Encoder, m: &MandateState) {
    let MandateState { id, mandate, issued_at, recalled, superseded_at, petition } = m;
    e.array(6).value(id).value(mandate).u64(*issued_at);
    match recalled {
        None => e.null(),
        Some((at, kind, by)) => e.array(3).u64(*at).u64(matches!(kind, RecallKind::Petition).into()).value(by),
    };
    e.option(superseded_at);
    e.array(petition.len());
    for m in petition {
        e.value(m);
    }
}

fn decode_mandate(d: &mut Decoder<'_>) -> Result<MandateState, DecodeError> {
    d.array_exact(6)?;
    let id = d.value()?;
    let mandate: Mandate = d.value()?;
    let issued_at = d.u64()?;
    let recalled = if d.null()? {
        None
    } else {
        d.array_exact(3)?;
        let at = d.u64()?;
        let pos = d.position();
        let kind = match d.u64()? {
            0 => RecallKind::Motion,
            1 => RecallKind::Petition,
            _ => return Err(DecodeError::OutOfRange { at: pos, what: "recall kind" }),
        };
        Some((at, kind, d.value()?))
    };
    let superseded_at = d.option()?;
    let petition = items(d, |d| d.value())?;
    Ok(MandateState { id, mandate, issued_at, recalled, superseded_at, petition })
}

fn encode_fed_event(e: &mut Encoder, ev: &FedEvent) {
    let FedEvent { time, council, seq, kind } = ev;
    e.array(4).u64(*time).value(council).u64(*seq);
    match kind {
        FedEventKind::SignCharter { id, charter, invite } => {
            e.array(4).text("sign-charter").value(id).value(charter.as_ref()).option(invite)
        }
        FedEventKind::Admit { federation, council } => e.array(3).text("admit").value(federation).value(council),
        FedEventKind::Leave { federation } => e.array(2).text("leave").value(federation),
        FedEventKind::OpenMotion { id, motion } => e.array(3).text("open-motion").value(id).value(motion.as_ref()),
        FedEventKind::Ratify { federation, motion, accept } => {
            e.array(4).text("ratify").value(federation).value(motion).bool(*accept)
        }
        FedEventKind::Invite { federation, key, max_uses, expires_at } => {
            e.array(5).text("invite").value(federation).value(key).u64((*max_uses).into()).u64(*expires_at)
        }
        FedEventKind::DelegateVote { vote, delegate, members } => {
            e.array(4).text("delegate-vote").value(vote).value(delegate).u64(*members)
        }
    };
}

fn decode_fed_event(d: &mut Decoder<'_>) -> Result<FedEvent, DecodeError> {
    d.array_exact(4)?;
    let time = d.u64()?;
    let council = d.value()?;
    let seq = d.u64()?;
    let at = d.position();
    let n = d.array(5)?;
    let arity = |want: usize| {
        if n == want {
            Ok(())
        } else {
            Err(DecodeError::WrongArity { at, expected: want, found: n as u64 })
        }
    };
    let kind = match d.text()? {
        "sign-charter" => {
            arity(4)?;
            let id = d.value()?;
            let charter: Charter = d.value()?;
            let invite: Option<InviteProof> = d.option()?;
            FedEventKind::SignCharter { id, charter: Box::new(charter), invite }
        }
        "admit" => {
            arity(3)?;
            FedEventKind::Admit { federation: d.value()?, council: d.value()? }
        }
        "leave" => {
            arity(2)?;
            FedEventKind::Leave { federation: d.value()? }
        }
        "open-motion" => {
            arity(3)?;
            let id = d.value()?;
            let motion: FederationMotion = d.value()?;
            FedEventKind::OpenMotion { id, motion: Box::new(motion) }
        }
        "ratify" => {
            arity(4)?;
            FedEventKind::Ratify { federation: d.value()?, motion: d.value()?, accept: d.bool()? }
        }
        "invite" => {
            arity(5)?;
            FedEventKind::Invite { federation: d.value()?, key: d.value()?, max_uses: d.u32()?, expires_at: d.u64()? }
        }
        "delegate-vote" => {
            arity(4)?;
            let vote: DelegateVoteBody = d.value()?;
            FedEventKind::DelegateVote { vote, delegate: d.value()?, members: d.u64()? }
        }
        other => return Err(DecodeError::UnknownVariant { at, found: other.chars().take(64).collect() }),
    };
    Ok(FedEvent { time, council, seq, kind })
}
