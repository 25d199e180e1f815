//! The report `council verify` prints for people.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

use council_core::export::{MotionReport, Report};
use council_core::federation::BallotStatus;
use council_core::records::Outcome;
use council_core::Hash;

fn when(t: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(t)).to_string()
}

fn outcome_text(o: &Outcome, options: &[String]) -> String {
    match o {
        Outcome::Passed => "passed".into(),
        Outcome::Rejected => "rejected".into(),
        Outcome::Chosen(i) => format!(
            "chose {:?}",
            options.get(*i as usize).map_or("?", |s| s.as_str())
        ),
        Outcome::NoDecision => "no decision".into(),
        Outcome::NoQuorum => "no quorum".into(),
    }
}

fn counts_text(counts: &[u64], options: &[String]) -> String {
    let mut parts: Vec<String> = options
        .iter()
        .zip(counts)
        .map(|(o, n)| format!("{o} {n}"))
        .collect();
    if let Some(a) = counts.last() {
        parts.push(format!("abstain {a}"));
    }
    parts.join(" · ")
}

fn motion_line(m: &MotionReport) -> String {
    let state = match (&m.outcome, m.closed_early) {
        (Some(o), true) => format!("{} (closed early)", outcome_text(o, &m.options)),
        (Some(o), false) => outcome_text(o, &m.options),
        (None, _) => format!("open until {}", when(m.closes_at)),
    };
    let changed = if m.ballots_changed > 0 {
        format!(", {} changed", m.ballots_changed)
    } else {
        String::new()
    };
    let effect = match &m.effect {
        Some(council_core::council::Effect::Void(r)) => format!(" — act void: {r}"),
        _ => String::new(),
    };
    format!(
        "  [{}] {:?}: {state}{effect}\n      {} of {} eligible ({} ballots{changed})",
        m.kind,
        m.title,
        counts_text(&m.counts, &m.options),
        m.electorate,
        m.ballots_received,
    )
}

pub fn print(r: &Report, path: &Path) {
    let names: HashMap<Hash, &str> = r.councils.iter().map(|c| (c.id, c.name.as_str())).collect();
    let name = |id: &Hash| {
        names
            .get(id)
            .map_or_else(|| format!("council {}", id.short()), |n| format!("{n:?}"))
    };
    println!("councilnet export {}", path.display());
    if r.valid {
        println!(
            "VALID: every signature, hash link, roster, tally, mandate and recall checks out.\n"
        );
    } else {
        println!("INVALID: {} problem(s) found.\n", r.errors.len());
        for e in &r.errors {
            println!("  ✗ {e}");
        }
        println!();
    }
    for c in &r.councils {
        println!(
            "Council {:?}{}{}\n  id {}\n  {} founders, {} members now, node key {}\n  log: {} entries, last at {}",
            c.name,
            if c.primary { " (the exported council)" } else { "" },
            if c.forked { "  ⚠ FORKED: its node signed two different entries at one place" } else { "" },
            c.id,
            c.founders.len(),
            c.members.len(),
            c.node_key,
            c.entries,
            when(c.last_time),
        );
        if !c.motions.is_empty() {
            println!("  motions ({}):", c.motions.len());
            for m in &c.motions {
                println!("{}", motion_line(m));
            }
        }
        if !c.mandates.is_empty() {
            println!("  mandates:");
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
                println!(
                    "    {} delegate {} in federation {}: {}{recall}, expires {}",
                    m.id.short(),
                    m.delegate,
                    m.federation.short(),
                    m.status,
                    when(m.expires_at)
                );
            }
        }
        println!();
    }
    for f in &r.federations {
        println!("Federation {:?}\n  id {}", f.name, f.id);
        match f.founded_at {
            Some(t) => println!(
                "  founded {} by {}",
                when(t),
                f.founders
                    .iter()
                    .map(name)
                    .collect::<Vec<_>>()
                    .join(" and ")
            ),
            None => println!("  not founded: not every founding council has signed"),
        }
        for m in &f.members {
            let left = m
                .left_at
                .map(|t| format!(", left {}", when(t)))
                .unwrap_or_default();
            println!(
                "  member {} since {}{left}",
                name(&m.council),
                when(m.joined_at)
            );
        }
        for m in &f.motions {
            let state = match (&m.outcome, &m.counts) {
                (Some(o), Some(c)) => format!(
                    "{}: {} of {} councils",
                    outcome_text(o, &m.options),
                    counts_text(c, &m.options),
                    m.electorate.unwrap_or(0)
                ),
                _ => format!("open until {}", when(m.closes_at)),
            };
            println!(
                "  motion {:?} (matter {:?}), opened by {}: {state}",
                m.title,
                m.matter,
                name(&m.opened_by)
            );
            for v in &m.votes {
                let choice = m
                    .options
                    .get(v.choice as usize)
                    .map_or("abstain", |s| s.as_str());
                let status = match v.status {
                    BallotStatus::Counted => "counted",
                    BallotStatus::Replaced => "replaced by a later ballot",
                    BallotStatus::Struck => {
                        "STRUCK: the delegate was recalled while the motion was open"
                    }
                    BallotStatus::CouncilLeft => "not counted: the council left",
                    BallotStatus::Pending => "pending",
                };
                println!("    {} voted {choice:?} — {status}", name(&v.council));
            }
            for (c, accept) in &m.ratifications {
                println!(
                    "    {} {} the outcome",
                    name(c),
                    if *accept {
                        "ratified"
                    } else {
                        "did not ratify"
                    }
                );
            }
        }
        println!();
    }
    for e in &r.equivocations {
        println!(
            "Equivocation: {} signed entries {} and {} at seq {}",
            name(&e.council),
            e.a.short(),
            e.b.short(),
            e.seq
        );
    }
    let k = &r.checked;
    println!(
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
