//! The report `council verify` prints for people.

use std::collections::HashMap;
use std::fmt::Write as _;

/// `writeln!` into a `String`, which cannot fail.
macro_rules! w {
    ($o:expr) => {{
        let _ = writeln!($o);
    }};
    ($o:expr, $($t:tt)*) => {{
        let _ = writeln!($o, $($t)*);
    }};
}
use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

use council_core::export::{MotionReport, Report};
use council_core::federation::{ActStatus, BallotStatus};
use council_core::records::Outcome;
use council_core::Hash;

fn when(t: u64) -> String {
    // humantime covers years up to 9999; a record may name any 64-bit time.
    const YEAR_9999_END: u64 = 253_402_300_799;
    if t > YEAR_9999_END {
        return format!("{t} s after 1970 (beyond the year 9999)");
    }
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(t)).to_string()
}

fn outcome_text(o: &Outcome, options: &[String]) -> String {
    match o {
        Outcome::Passed => "passed".into(),
        Outcome::Rejected => "rejected".into(),
        Outcome::Chosen(i) => format!("chose {:?}", options.get(*i as usize).map_or("?", |s| s.as_str())),
        Outcome::NoDecision => "no decision".into(),
        Outcome::NoQuorum => "no quorum".into(),
    }
}

fn counts_text(counts: &[u64], options: &[String]) -> String {
    let mut parts: Vec<String> = options
        .iter()
        .zip(counts)
        // Text from the file is escaped: a hostile option name must not drive the terminal.
        .map(|(o, n)| format!("{} {n}", o.escape_debug()))
        .collect();
    if let Some(a) = counts.last() {
        parts.push(format!("abstain {a}"));
    }
    parts.join(" · ")
}

/// One motion of a council's report; in a federation-level copy (`partial`) its ballots
/// are not held, so no count is shown.
fn motion_line(m: &MotionReport, partial: bool) -> String {
    let state = match (&m.outcome, m.closed_early) {
        (Some(o), true) => format!("{} (closed early)", outcome_text(o, &m.options)),
        (Some(o), false) => outcome_text(o, &m.options),
        (None, _) => format!("open until {}", when(m.closes_at)),
    };
    let changed = if m.ballots_changed > 0 { format!(", {} changed", m.ballots_changed) } else { String::new() };
    let effect = match &m.effect {
        Some(council_core::council::Effect::Void(r)) => format!(" — act void: {r}"),
        _ => String::new(),
    };
    if partial {
        return format!(
            "  [{}] {:?}: {state}{effect}\n      as its node closed it (the ballots are not in the copy)",
            m.kind, m.title
        );
    }
    format!(
        "  [{}] {:?}: {state}{effect}\n      {} of {} eligible ({} ballots{changed})",
        m.kind,
        m.title,
        counts_text(&m.counts, &m.options),
        m.electorate,
        m.ballots_received,
    )
}

/// Enough of a did:key to tell members apart: the part after the `z6Mk` they all share.
pub fn short_did(did: &str) -> String {
    let s = did.strip_prefix("did:key:z6Mk").unwrap_or(did);
    format!("{}…", s.get(..10).unwrap_or(s))
}

pub fn print(r: &Report, path: &Path) {
    let mut out = String::new();
    render(&mut out, r, path);
    // A closed pipe (`council verify f | head`) is not an error worth a panic.
    let _ = std::io::Write::write_all(&mut std::io::stdout().lock(), out.as_bytes());
}

fn render(o: &mut String, r: &Report, path: &Path) {
    let names: HashMap<Hash, &str> = r.councils.iter().map(|c| (c.id, c.name.as_str())).collect();
    let fed_names: HashMap<Hash, &str> = r.federations.iter().map(|f| (f.id, f.name.as_str())).collect();
    let name = |id: &Hash| match (names.get(id), fed_names.get(id)) {
        (Some(n), _) => format!("{n:?}"),
        (None, Some(n)) => format!("federation {n:?}"),
        (None, None) => format!("council {}", id.short()),
    };
    w!(o, "councilnet export {}", path.display());
    let broken: Vec<_> =
        r.receipts.iter().filter(|x| matches!(x.verdict, "equivocation" | "missing" | "other-signer")).collect();
    if r.valid {
        let copies = r.councils.iter().filter(|c| c.partial).count();
        if copies == 0 {
            w!(o, "VALID: every signature, hash link, roster, tally, mandate and recall checks out.\n");
        } else {
            w!(
                o,
                "VALID: every signature, hash link, roster, tally, mandate and recall checks out, except that\n{copies} council(s) are federation-level copies: their acts are taken as their nodes signed them\n(PROTOCOL.md §12.9); each council's own export proves its acts.\n"
            );
        }
    } else {
        w!(o, "INVALID: {} problem(s) found.\n", r.errors.len() + broken.len());
        for e in &r.errors {
            w!(o, "  ✗ {e}");
        }
        for x in &broken {
            w!(
                o,
                "  ✗ EQUIVOCATION by the node of {}: receipt {}, seq {}: {}",
                name(&x.council),
                x.source,
                x.seq,
                x.reason
            );
        }
        w!(o);
    }
    if !r.receipts.is_empty() {
        let held = r.receipts.iter().filter(|x| x.verdict == "held").count();
        w!(o, "Receipts: {} checked, {held} held in the export, {} broken", r.receipts.len(), broken.len());
        for x in
            r.receipts.iter().filter(|x| !matches!(x.verdict, "held" | "equivocation" | "missing" | "other-signer"))
        {
            w!(o, "  ? {} (seq {}): {} — proves nothing here", x.source, x.seq, x.reason);
        }
        w!(o);
    }
    for c in &r.councils {
        w!(
            o,
            "Council {:?}{}{}{}\n  id {}\n  {} founders, {} members now, node key {}\n  log: {} entries, last at {}",
            c.name,
            if c.primary { " (the exported council)" } else { "" },
            if c.partial {
                "\n  a federation-level copy of its log: no ballots, and its acts taken as its node signed them (PROTOCOL.md §12.9); its own export proves them"
            } else {
                ""
            },
            if c.forked { "  ⚠ FORKED: its node signed two different entries at one place" } else { "" },
            c.id,
            c.founders.len(),
            c.members.len(),
            c.node_key,
            c.entries,
            when(c.last_time),
        );
        let named: Vec<String> = c
            .members
            .iter()
            .filter_map(|m| m.name.as_ref().map(|n| format!("{n} ({})", short_did(&m.member.to_did()))))
            .collect();
        if !named.is_empty() {
            w!(o, "  members who gave a name: {}", named.join(", "));
        }
        for ch in &c.rule_changes {
            w!(
                o,
                "  rules amended at log entry {} ({}), by motion {}: acts quorum {}/{}, threshold {}/{}{}",
                ch.seq,
                when(ch.time),
                ch.motion.short(),
                ch.rules.act_rule.quorum.num,
                ch.rules.act_rule.quorum.den,
                ch.rules.act_rule.threshold.num,
                ch.rules.act_rule.threshold.den,
                if ch.rules.act_rule.threshold.strict { " (more than)" } else { "" }
            );
        }
        let devices = c.members.iter().map(|m| m.keys.len()).sum::<usize>();
        if devices > c.members.len() || c.stats.device_changes > 0 {
            w!(
                o,
                "  device keys: {devices} held by {} members now; {} device change(s) in the log",
                c.members.len(),
                c.stats.device_changes
            );
        }
        if !c.motions.is_empty() {
            w!(o, "  motions ({}):", c.motions.len());
            for m in &c.motions {
                w!(o, "{}", motion_line(m, c.partial));
            }
        }
        if !c.mandates.is_empty() {
            w!(o, "  mandates:");
            for m in &c.mandates {
                let recall = match &m.recall {
                    Some(rc) => {
                        let by = match rc.by {
                            council_core::council::RecallKind::Motion => "motion",
                            council_core::council::RecallKind::Petition => "petition",
                        };
                        format!(" by {by} at {}", when(rc.at))
                    }
                    None => String::new(),
                };
                w!(
                    o,
                    "    {} delegate {} in federation {}: {}{recall}, expires {}",
                    m.id.short(),
                    m.delegate,
                    m.federation.short(),
                    m.status,
                    when(m.expires_at)
                );
            }
        }
        w!(o);
    }
    for f in &r.federations {
        w!(o, "Federation {:?}\n  id {}", f.name, f.id);
        match f.founded_at {
            Some(t) => {
                w!(o, "  founded {} by {}", when(t), f.founders.iter().map(name).collect::<Vec<_>>().join(" and "))
            }
            None => w!(o, "  not founded: not every founding council has signed"),
        }
        for m in &f.members {
            let left = m.left_at.map(|t| format!(", left {}", when(t))).unwrap_or_default();
            w!(o, "  member {} since {}{left}", name(&m.council), when(m.joined_at));
        }
        for m in &f.mandates {
            let end = match (m.recalled_at, m.superseded_at) {
                (Some(t), _) => format!("recalled {}", when(t)),
                (None, Some(t)) => format!("superseded {}", when(t)),
                (None, None) => format!("expires {}", when(m.expires_at)),
            };
            w!(
                o,
                "  mandate {}: delegate {} of {} in {}, issued {}, {end}",
                m.id.short(),
                short_did(&m.delegate.to_did()),
                name(&m.council),
                name(&m.federation),
                when(m.issued_at)
            );
        }
        for m in &f.motions {
            // Split votes and weights: the tally the outcome was decided on, in votes.
            let weighed = m.votes.iter().any(|v| v.split.is_some() || v.weight != 1);
            let state = match (&m.outcome, &m.counts, &m.weighted) {
                (Some(o), _, Some(w)) if weighed => format!(
                    "{}: weighted {} ({} members)",
                    outcome_text(o, &m.options),
                    m.options
                        .iter()
                        .map(String::as_str)
                        .chain(["abstain"])
                        .zip(w)
                        .map(|(name, n)| format!("{name} {:.2}", *n as f64 / 10_000.0))
                        .collect::<Vec<_>>()
                        .join(" · "),
                    m.electorate.unwrap_or(0)
                ),
                (Some(o), Some(c), _) => format!(
                    "{}: {} of {} members",
                    outcome_text(o, &m.options),
                    counts_text(c, &m.options),
                    m.electorate.unwrap_or(0)
                ),
                _ => format!("open until {}", when(m.closes_at)),
            };
            w!(o, "  motion {:?} (matter {:?}), opened by {}: {state}", m.title, m.matter, name(&m.opened_by));
            if let Some(a) = &m.act {
                let target = a.target.map(|t| format!(" in {}", name(&t))).unwrap_or_default();
                let status = match a.status {
                    ActStatus::Open => "to be done if it passes".to_owned(),
                    ActStatus::NotPassed => "not passed: nothing done".to_owned(),
                    ActStatus::AwaitingRatification => format!(
                        "passed; waits for its councils' ratification ({} accepted, {} needed)",
                        m.ratifications.iter().filter(|(_, a)| *a).count(),
                        a.needed.unwrap_or(0)
                    ),
                    ActStatus::Done => format!("done {}", a.at.map(when).unwrap_or_default()),
                    ActStatus::Void => format!("VOID: {}", a.reason.as_deref().unwrap_or("")),
                };
                w!(o, "    the federation's act: {}{target} — {status}", a.kind);
            }
            for v in &m.votes {
                let choice = match &v.split {
                    Some(parts) => format!(
                        "the council's split ({})",
                        m.options
                            .iter()
                            .zip(parts)
                            .map(|(o, p)| format!("{o:?} {:.2}%", *p as f64 / 100.0))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    None => format!("{:?}", m.options.get(v.choice as usize).map_or("abstain", |s| s.as_str())),
                };
                let weight = if v.weight != 1 { format!(" (weight {})", v.weight) } else { String::new() };
                let status = match v.status {
                    BallotStatus::Counted => "counted",
                    BallotStatus::Replaced => "replaced by a later ballot",
                    BallotStatus::Struck => "STRUCK: the delegate was recalled while the motion was open",
                    BallotStatus::CouncilLeft => "not counted: the member left",
                    BallotStatus::Pending => "pending",
                };
                let who = match &v.federation {
                    Some(f) => format!("{} (its delegate, of {})", name(f), name(&v.council)),
                    None => name(&v.council),
                };
                w!(o, "    {who} voted {choice}{weight} — {status}");
            }
            for (c, accept) in &m.ratifications {
                w!(o, "    {} {} the outcome", name(c), if *accept { "ratified" } else { "did not ratify" });
            }
        }
        w!(o);
    }
    if !r.void_federation_events.is_empty() {
        w!(o, "Void federation events (no effect; see PROTOCOL.md §8):");
        for e in &r.void_federation_events {
            w!(o, "  - {e}");
        }
        w!(o);
    }
    for e in &r.equivocations {
        w!(o, "Equivocation: {} signed entries {} and {} at seq {}", name(&e.council), e.a.short(), e.b.short(), e.seq);
    }
    let k = &r.checked;
    w!(o,
        "Checked: {} items, {} signatures, {} councils, {} log entries, {} motions, {} ballots, {} petition signatures, {} delegate votes{}",
        k.items,
        k.signatures,
        k.councils,
        k.entries,
        k.motions,
        k.ballots,
        k.petition_signatures,
        k.delegate_votes,
        if k.skipped > 0 { format!(", {} items skipped after an error", k.skipped) } else { String::new() }
    );
}
