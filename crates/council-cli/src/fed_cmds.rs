//! `council federation …`, `council delegate vote`, `council peer add`, `council network`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use council_core::cbor::Cbor;
use council_core::invite::InviteString;
use council_core::records::{
    Action, Charter, DelegateVoteBody, FederationAct, FederationMotion, FederationRules, InviteBody, Mandate, Rule,
    Scope, Share, Signed, Threshold,
};
use council_core::{Hash, SecretKey};
use serde::Deserialize;
use serde_json::Value;

use crate::client::Node;
use crate::keyfile;
use crate::node_cmds::{act, council_id, now, print, resolve};

/// A charter as people write it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CharterFile {
    name: String,
    principles: Vec<String>,
    /// The founding councils' ids (`council status` shows a council's id).
    founders: Vec<String>,
    /// RFC 3339, e.g. 2026-11-22T10:00:00Z. Every founder signs the same file, so the
    /// time is written down rather than taken from the clock.
    created_at: String,
    rules: RulesFile,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesFile {
    /// Share of member councils whose countersignature admits a council.
    admission: String,
    /// Share of member councils that must take part in a federation motion: N/D.
    motion_quorum: String,
    /// Share of the votes cast that decides a federation motion.
    motion_threshold: String,
    /// "per-council" (the default: one vote each) or "by-members" (a council's vote weighs
    /// its roster size).
    #[serde(default)]
    weighting: Option<String>,
}

/// Reads and checks a charter file; the same file gives the same federation id everywhere.
pub fn load_charter(path: &Path) -> anyhow::Result<Charter> {
    let text = council_files::read_text(path, 1 << 20)?;
    let f: CharterFile =
        toml::from_str(&text).with_context(|| format!("{} is not a valid charter file", path.display()))?;
    let founders = f
        .founders
        .iter()
        .map(|c| Hash::from_hex(c.trim()).with_context(|| format!("founder {c:?} is not a council id (64 hex digits)")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let created_at = humantime::parse_rfc3339(f.created_at.trim())
        .with_context(|| format!("created_at {:?} is not an RFC 3339 time like 2026-11-22T10:00:00Z", f.created_at))?
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let parse_t = |s: &str, what: &str| -> anyhow::Result<Threshold> {
        s.parse().map_err(|e| anyhow::anyhow!("rules.{what} {s:?}: {e}"))
    };
    let quorum: Share = f
        .rules
        .motion_quorum
        .parse()
        .map_err(|e| anyhow::anyhow!("rules.motion_quorum {:?}: {e}", f.rules.motion_quorum))?;
    let charter = Charter {
        name: f.name,
        principles: f.principles,
        rules: FederationRules {
            admission: parse_t(&f.rules.admission, "admission")?,
            motion_rule: Rule { quorum, threshold: parse_t(&f.rules.motion_threshold, "motion_threshold")? },
            weighting: match f.rules.weighting.as_deref().map(str::trim) {
                None | Some("per-council") => council_core::records::Weighting::PerCouncil,
                Some("by-members") => council_core::records::Weighting::ByMembers,
                Some(other) => bail!("rules.weighting {other:?}: use \"per-council\" or \"by-members\""),
            },
        },
        founders,
        created_at,
    };
    council_core::council::check_charter(&charter).map_err(|e| anyhow::anyhow!("the charter is not valid: {e}"))?;
    Ok(charter)
}

/// `federation create FILE`: moves that this council sign the charter as a founder.
pub fn create(node: &Node, key: &Path, file: &Path, closes_in: Duration, json: bool) -> anyhow::Result<()> {
    let charter = load_charter(file)?;
    let report = node.get("/v1/council")?;
    let own = council_id(&report)?;
    if !charter.founders.contains(&own) {
        bail!("this council ({own}) is not among the charter's founders; add its id to `founders`, or join with an invite");
    }
    let id = charter.id();
    if !json {
        say!("federation {id} ({:?}); each founding council signs this same charter file", charter.name);
    }
    act(
        node,
        key,
        format!("Found the federation {:?} (sign its charter)", charter.name),
        sign(charter, None),
        closes_in,
        json,
    )
}

fn sign(charter: Charter, invite: Option<council_core::records::InviteProof>) -> Action {
    Action::SignCharter { charter, invite }
}

/// Finds a council waiting for admission to a federation (`rep`, its report) by its id
/// or a unique prefix of 6+ hex digits; a full id not seen waiting yet is taken as given
/// (its join may still be on its way here).
fn pending_council(rep: &Value, c: &str) -> anyhow::Result<Hash> {
    let c = c.trim().to_ascii_lowercase();
    let pending: Vec<&str> = rep["pending"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    match by_prefix(&pending, &c, "council id", "councils waiting for admission")? {
        Some(one) => Hash::from_hex(one).context("the node sent a malformed council id"),
        None => Hash::from_hex(&c).with_context(|| {
            if pending.is_empty() {
                format!("no council waits for admission with an id starting {c}; none waits at all yet")
            } else {
                format!(
                    "no council waits for admission with an id starting {c}; those waiting: {}",
                    pending.iter().map(|p| &p[..12]).collect::<Vec<_>>().join(", ")
                )
            }
        }),
    }
}

/// The one of `ids` that starts with `given` (already trimmed and lower-cased), if any.
/// `given` must have 6 hex digits or more (`what` names the id), and may match only one
/// (`among` names the ids).
fn by_prefix<'a>(ids: &[&'a str], given: &str, what: &str, among: &str) -> anyhow::Result<Option<&'a str>> {
    if given.len() < 6 {
        bail!("give at least 6 hex digits of the {what}");
    }
    let found: Vec<&str> = ids.iter().copied().filter(|id| id.starts_with(given)).collect();
    match found.as_slice() {
        [one] => Ok(Some(one)),
        [] => Ok(None),
        _ => bail!("{given} matches several {among}; give more digits"),
    }
}

/// Finds a federation this node knows by its id or a unique prefix of 6+ hex digits; a
/// full id it does not know is taken as given.
pub fn federation_arg(v: &Value, f: &str) -> anyhow::Result<(Hash, Value)> {
    let list = v["federations"].as_array().cloned().unwrap_or_default();
    let f = f.trim().to_ascii_lowercase();
    if f.len() < 6 {
        bail!("give at least 6 hex digits of the federation id");
    }
    let found: Vec<&Value> = list.iter().filter(|x| x["id"].as_str().is_some_and(|id| id.starts_with(&f))).collect();
    match found.as_slice() {
        [one] => {
            let id = one["id"].as_str().and_then(Hash::from_hex).context("the node sent a malformed federation id")?;
            Ok((id, (*one).clone()))
        }
        [] => match Hash::from_hex(&f) {
            // Not founded yet (or not known here): a full id is taken as given.
            Some(id) => Ok((id, Value::Null)),
            None => bail!("no federation {f} is known to this node; `council federation list` shows them"),
        },
        _ => bail!("{f} matches several federations; give more digits"),
    }
}

/// `federation invite FED`: logs an invite and prints the invite string.
pub fn invite(
    node: &Node,
    member_key: &Path,
    federation: &str,
    uses: u32,
    expires_in: Duration,
    json: bool,
) -> anyhow::Result<()> {
    let member = keyfile::load(member_key)?;
    let feds = node.get("/v1/federations")?;
    let (fed, _) = federation_arg(&feds, federation)?;
    let report = node.get("/v1/council")?;
    let issuer = council_id(&report)?;
    let net = node.get("/v1/network")?;
    let addrs: Vec<String> = net["listen"]
        .as_array()
        .map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_owned)).collect())
        .unwrap_or_default();
    if addrs.is_empty() {
        bail!("the node is not listening for other councils yet; check its network settings");
    }
    let key = SecretKey::generate();
    let expires_at = (now() + expires_in).as_secs();
    let body = InviteBody { council: issuer, federation: fed, invite_key: key.public(), max_uses: uses, expires_at };
    let r = node.post_record("/v1/invites", &Signed::sign(body, &member).to_cbor())?;
    let s = InviteString {
        federation: fed,
        issuer,
        key,
        expires_at,
        addrs: addrs.into_iter().take(council_core::invite::MAX_ADDRS).collect(),
    };
    let out =
        serde_json::json!({ "invite": s.to_string(), "seq": r["seq"], "max_uses": uses, "expires_at": expires_at });
    print(json, &out, || {
        say!("{s}");
        // On a terminal, also as a QR code (on stderr: stdout stays the string alone, for
        // scripts), for the other council to scan from the screen.
        if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
            match qr(&s.to_string()) {
                Some(code) => eprintln!("\n{code}"),
                None => eprintln!("(too long for a QR code: pass the string itself)"),
            }
        }
        eprintln!(
            "invite logged (entry {}): {uses} use(s), expires in {}. Whoever holds this string can use it: pass it on privately.",
            r["seq"],
            humantime::format_duration(expires_in)
        );
    });
    Ok(())
}

/// `federation join --cancel FED`: ends a pending join.
pub fn cancel_join(node: &Node, federation: &str, json: bool) -> anyhow::Result<()> {
    let feds = node.get("/v1/federations")?;
    let joining: Vec<&str> = feds["joining"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    let f = federation.trim().to_ascii_lowercase();
    let Some(id) = by_prefix(&joining, &f, "federation id", "federations this council is joining")? else {
        bail!("this council is not joining a federation {f}");
    };
    let v = node.delete(&format!("/v1/joins/{id}"))?;
    print(json, &v, || say!("the join of federation {} is cancelled", &id[..12]));
    Ok(())
}

/// The text as a QR code drawn with Unicode half blocks, dark on light, with its quiet zone.
fn qr(text: &str) -> Option<String> {
    let code = qrcode::QrCode::with_error_correction_level(text.as_bytes(), qrcode::EcLevel::L).ok()?;
    Some(
        code.render::<qrcode::render::unicode::Dense1x2>()
            .dark_color(qrcode::render::unicode::Dense1x2::Light)
            .light_color(qrcode::render::unicode::Dense1x2::Dark)
            .quiet_zone(true)
            .build(),
    )
}

/// `federation join INVITE`: proves the invite to the issuer's node, waits for the
/// charter, then moves that this council sign it.
pub fn join(
    node: &Node,
    key: &Path,
    invite: &str,
    wait: Duration,
    closes_in: Duration,
    json: bool,
) -> anyhow::Result<()> {
    let inv: InviteString = invite.parse().context("the invite string cannot be read")?;
    if inv.expires_at < now().as_secs() {
        bail!("this invite expired; ask the federation for a new one");
    }
    let report = node.get("/v1/council")?;
    let own = council_id(&report)?;
    let proof = inv.proof_for(own);
    let body = serde_json::json!({
        "federation": inv.federation.to_hex(),
        "proof": hex::encode(proof.to_cbor()),
        "addrs": inv.addrs,
    });
    node.post_json("/v1/joins", &body)?;
    if !json {
        say!("connecting to the inviting council's node to fetch the charter of {}…", inv.federation.short());
    }
    let deadline = Instant::now() + wait;
    let charter = loop {
        let feds = node.get("/v1/federations")?;
        if let Some(h) = feds["charters"][inv.federation.to_hex()].as_str() {
            let bytes = hex::decode(h).context("the node sent a malformed charter")?;
            let c = Charter::from_cbor(&bytes).context("the node sent a malformed charter")?;
            if c.id() == inv.federation {
                break c;
            }
        }
        if let Some(why) = feds["join_refusals"][inv.federation.to_hex()].as_str() {
            bail!(
                "the inviting council's node refused this council: {why}. Ask the federation for a new invite, or end this join with `council federation join --cancel {}`",
                inv.federation.short()
            );
        }
        if Instant::now() >= deadline {
            bail!(
                "the inviting council's node did not answer within {} (addresses: {}); is it running and reachable? The join is remembered: run this again to retry, or end it with `council federation join --cancel FED`",
                humantime::format_duration(wait),
                inv.addrs.join(", ")
            );
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    if !json {
        say!(
            "charter {:?}: {} principle(s), founded by {} council(s)",
            charter.name,
            charter.principles.len(),
            charter.founders.len()
        );
        for p in &charter.principles {
            say!("  - {p}");
        }
    }
    let title = format!("Join the federation {:?} (sign its charter)", charter.name);
    act(node, key, title, sign(charter, Some(proof)), closes_in, json)
}

pub fn simple_act(
    node: &Node,
    key: &Path,
    federation: &str,
    what: FedAct,
    closes_in: Duration,
    json: bool,
) -> anyhow::Result<()> {
    let feds = node.get("/v1/federations")?;
    let (fed, rep) = federation_arg(&feds, federation)?;
    let name = rep["name"].as_str().unwrap_or("").to_owned();
    let (title, action) = match what {
        FedAct::Admit(c) => {
            let c = pending_council(&rep, &c)?;
            (
                format!("Admit council {} to the federation {name:?}", c.short()),
                Action::Admit { federation: fed, council: c },
            )
        }
        FedAct::Leave => (format!("Leave the federation {name:?}"), Action::Leave(fed)),
        FedAct::Ratify { motion, accept } => {
            let (m, _) = fed_motion(&rep, &motion)?;
            let verb = if accept { "Ratify" } else { "Refuse to ratify" };
            (
                format!("{verb} the outcome of federation motion {}", m.short()),
                Action::Ratify { federation: fed, motion: m, accept },
            )
        }
        FedAct::Motion { matter, title, options, closes_in } => {
            if options.len() < 2 {
                bail!("a federation motion needs at least two --option values");
            }
            let closes_at = (now() + closes_in).as_secs();
            let m = FederationMotion { federation: fed, matter, title: title.clone(), options, closes_at, act: None };
            (format!("Open the federation motion {title:?} in {name:?}"), Action::OpenFederationMotion(m))
        }
    };
    act(node, key, title, action, closes_in, json)
}

/// What a federation does as one body (`council federation act FED …`, PROTOCOL.md §8.1).
pub enum BodyAct {
    /// Sign a higher federation's charter: as a founder, or with an invite to it.
    Join {
        charter: PathBuf,
        invite: Option<String>,
    },
    Admit {
        higher: String,
        member: String,
    },
    Leave {
        higher: String,
    },
    Mandate {
        higher: String,
        council: Option<String>,
        delegate: String,
        matters: Vec<String>,
        instruct: Vec<String>,
        expires_in: Duration,
    },
    Recall {
        mandate: String,
    },
    Motion {
        higher: String,
        matter: String,
        title: String,
        options: Vec<String>,
        open_above: Duration,
    },
}

/// `federation act FED …`: moves, in this council, that the federation `FED` (which this
/// council belongs to) open a motion carrying `what`; the federation's delegates then
/// decide it, and a join also waits for its councils' ratification.
/// The federation motion that carries a [`BodyAct`]: its matter (the delegates' mandates
/// must cover it), how long it stays open, and how long this council's members have to
/// vote on moving it.
pub struct BodyMotion {
    pub matter: String,
    pub open_for: Duration,
    pub closes_in: Duration,
}

pub fn body_act(
    node: &Node,
    key: &Path,
    federation: &str,
    what: BodyAct,
    how: BodyMotion,
    json: bool,
) -> anyhow::Result<()> {
    let BodyMotion { matter, open_for, closes_in } = how;
    let feds = node.get("/v1/federations")?;
    let (fed, rep) = federation_arg(&feds, federation)?;
    let name = rep["name"].as_str().unwrap_or("").to_owned();
    let closes_at = (now() + open_for).as_secs();
    let higher = |h: &str| federation_arg(&feds, h).map(|(id, _)| id);
    let (title, body_act) = match what {
        BodyAct::Join { charter, invite } => {
            let charter = load_charter(&charter)?;
            let proof = match invite {
                None if charter.founders.contains(&fed) => None,
                None => bail!(
                    "federation {} is not among the charter's founders: join with --invite, an invite string from \
                     a council of the federation above",
                    fed.short()
                ),
                Some(_) if charter.founders.contains(&fed) => {
                    bail!("federation {} is a founder of this charter: it signs without an invite", fed.short())
                }
                Some(s) => {
                    let inv: InviteString = s.trim().parse().context("the invite string is not valid")?;
                    if inv.federation != charter.id() {
                        bail!(
                            "the invite is for federation {}, not for this charter ({})",
                            inv.federation,
                            charter.id()
                        );
                    }
                    Some(council_core::sample::invite_proof(&inv.key, inv.issuer, inv.federation, fed))
                }
            };
            (format!("Join {:?}", charter.name), FederationAct::SignCharter { charter, invite: proof })
        }
        BodyAct::Admit { higher: h, member } => {
            let h = higher(&h)?;
            let member = Hash::from_hex(member.trim()).context("give the joining member's full id (64 hex digits)")?;
            (
                format!("Countersign the admission of {} to {}", member.short(), h.short()),
                FederationAct::Admit { federation: h, member },
            )
        }
        BodyAct::Leave { higher: h } => {
            let h = higher(&h)?;
            (format!("Leave federation {}", h.short()), FederationAct::Leave(h))
        }
        BodyAct::Mandate { higher: h, council, delegate, matters, instruct, expires_in } => {
            let h = higher(&h)?;
            let council = match council {
                Some(c) => Hash::from_hex(c.trim()).context("give the delegate's council as a full id")?,
                None => council_id(&node.get("/v1/council")?)?,
            };
            let delegate = council_core::PublicKey::from_did(delegate.trim())
                .context("give the delegate as a did:key (the member id `council members` shows)")?;
            let scope = if matters.is_empty() { Scope::All } else { Scope::Matters(matters) };
            let expires_at = (now() + expires_in).as_secs();
            // A split names this federation's own motion: its weighted tally is the split.
            let instructions = crate::node_cmds::parse_instructions(&instruct, |s| {
                if let Some(stated) = crate::node_cmds::stated_split(s)? {
                    return Ok(stated);
                }
                let (m, _) = fed_motion(&rep, s)?;
                Ok(council_core::records::SplitSource::OfMotion(m))
            })?;
            let mandate = Mandate { delegate, federation: h, scope, instructions, expires_at };
            (format!("Send a delegate to federation {}", h.short()), FederationAct::Mandate { council, mandate })
        }
        BodyAct::Recall { mandate } => {
            let m = mandate.trim().to_ascii_lowercase();
            let ids: Vec<&str> =
                rep["mandates"].as_array().into_iter().flatten().filter_map(|x| x["id"].as_str()).collect();
            let id = by_prefix(&ids, &m, "mandate id", "this federation's mandates")?
                .and_then(Hash::from_hex)
                .with_context(|| format!("federation {name:?} gave no mandate {m}"))?;
            (format!("Recall our delegate (mandate {})", id.short()), FederationAct::Recall(id))
        }
        BodyAct::Motion { higher: h, matter: above, title, options, open_above } => {
            if options.len() < 2 {
                bail!("a federation motion needs at least two --option values");
            }
            let h = higher(&h)?;
            let inner_closes = closes_at + open_above.as_secs();
            let m = FederationMotion {
                federation: h,
                matter: above,
                title: title.clone(),
                options,
                closes_at: inner_closes,
                act: None,
            };
            (format!("Move above: {title}"), FederationAct::OpenMotion(m))
        }
    };
    let motion = FederationMotion {
        federation: fed,
        matter,
        title: title.clone(),
        options: vec!["yes".into(), "no".into()],
        closes_at,
        act: Some(Box::new(body_act)),
    };
    act(node, key, format!("{title} (an act of {name:?})"), Action::OpenFederationMotion(motion), closes_in, json)
}

/// What `simple_act` moves.
pub enum FedAct {
    Admit(String),
    Leave,
    Ratify { motion: String, accept: bool },
    Motion { matter: String, title: String, options: Vec<String>, closes_in: Duration },
}

fn fed_motion(rep: &Value, m: &str) -> anyhow::Result<(Hash, Value)> {
    let m = m.trim().to_ascii_lowercase();
    if m.len() < 6 {
        bail!("give at least 6 hex digits of the federation motion id");
    }
    let found: Vec<&Value> = rep["motions"]
        .as_array()
        .map(|a| a.iter().filter(|x| x["id"].as_str().is_some_and(|id| id.starts_with(&m))).collect())
        .unwrap_or_default();
    match found.as_slice() {
        [one] => Ok((one["id"].as_str().and_then(Hash::from_hex).context("malformed motion id")?, (*one).clone())),
        [] => bail!("no federation motion {m} in this federation (yet); `council federation show` lists them"),
        _ => bail!("{m} matches several federation motions; give more digits"),
    }
}

/// `delegate vote FED MOTION CHOICE`: the delegate's own signed vote, under a mandate.
pub fn delegate_vote(
    node: &Node,
    key: &Path,
    federation: &str,
    motion: &str,
    choice: &str,
    for_federation: Option<&str>,
    json: bool,
) -> anyhow::Result<()> {
    let key = keyfile::load(key)?;
    let feds = node.get("/v1/federations")?;
    let (fed, rep) = federation_arg(&feds, federation)?;
    let (m, mrep) = fed_motion(&rep, motion)?;
    let report = node.get("/v1/council")?;
    let council = council_id(&report)?;
    if let Some(lower) = for_federation {
        return federation_ballot(node, &key, (fed, m, &mrep), council, &report, &feds, lower, choice, json);
    }
    // The mandate in force for this federation that names this key's member (a mandate
    // names the member id; the key may be any of the member's device keys).
    let me = crate::node_cmds::member_of(&report, &key.public()).unwrap_or(key.public()).to_did();
    let mandate = report["mandates"]
        .as_array()
        .and_then(|a| {
            a.iter().find(|x| {
                x["status"] == "in force"
                    && x["federation"].as_str() == Some(&fed.to_hex())
                    && x["delegate"].as_str() == Some(&me)
            })
        })
        .cloned();
    let Some(mandate) = mandate else {
        bail!(
            "{} holds no mandate in force for this federation; a council gives one with `council mandate`",
            key.public().short()
        );
    };
    let (mid, _) = resolve(&report, "mandates", mandate["id"].as_str().unwrap_or(""))?;
    let options: Vec<String> = mrep["options"]
        .as_array()
        .map(|o| o.iter().filter_map(|x| x.as_str().map(str::to_owned)).collect())
        .unwrap_or_default();
    let c = choice.trim();
    // A split mandate: the split the mandate states, or the council's tally of its motion.
    let instruction = mandate["instructions"]
        .as_array()
        .and_then(|l| l.iter().find(|p| p[0].as_str() == mrep["matter"].as_str()))
        .map(|p| p[1].clone())
        .unwrap_or(Value::Null);
    let split = if c.eq_ignore_ascii_case("split") {
        let parts: Vec<u32> = if let Some(stated) = instruction["split"]["stated"].as_array() {
            stated.iter().filter_map(|p| p.as_u64().map(|p| p as u32)).collect()
        } else if let Some(id) = instruction["split"]["of-motion"].as_str() {
            let cm = node.get(&format!("/v1/motions/{id}"))?;
            if cm["status"] != "closed" {
                bail!("the council's motion {} has not closed yet: its split is not known", &id[..12.min(id.len())]);
            }
            let counts: Vec<u64> =
                cm["counts"].as_array().map(|c| c.iter().filter_map(Value::as_u64).collect()).unwrap_or_default();
            council_core::records::split_of(&counts[..options.len().min(counts.len())])
                .context("the council's motion closed with no ballot for any option: there is no split to cast")?
        } else {
            bail!("the mandate does not instruct a split on this matter");
        };
        Some(parts)
    } else {
        None
    };
    // A split vote's choice is the number of options, as an abstention's is.
    let choice = if split.is_some() || c.eq_ignore_ascii_case("abstain") {
        options.len() as u32
    } else if let Some(i) = options.iter().position(|o| o.eq_ignore_ascii_case(c)) {
        i as u32
    } else {
        match c.parse::<u32>() {
            Ok(i) if (i as usize) <= options.len() => i,
            _ => {
                bail!("{c:?} is not a choice on this federation motion; choose one of: {}, abstain", options.join(", "))
            }
        }
    };
    // Counters rise per council and motion, across delegates: the time in microseconds does.
    let counter = now().as_micros() as u64;
    let body = DelegateVoteBody { federation: fed, motion: m, council, mandate: mid, choice, counter, split };
    let v = Signed::sign(body, &key);
    let r = node.post_record("/v1/delegate-votes", &v.to_cbor())?;
    print(json, &r, || say!("delegate vote recorded (log entry {}); it reaches the federation by gossip", r["seq"]));
    Ok(())
}

/// `delegate vote FED MOTION CHOICE --for LOWER`: a ballot in `FED` for the member
/// federation `LOWER`, under the mandate `LOWER` gave this member (PROTOCOL.md §8.1).
#[allow(clippy::too_many_arguments)]
fn federation_ballot(
    node: &Node,
    key: &SecretKey,
    (fed, m, mrep): (Hash, Hash, &Value),
    council: Hash,
    report: &Value,
    feds: &Value,
    lower: &str,
    choice: &str,
    json: bool,
) -> anyhow::Result<()> {
    let (lower, lrep) = federation_arg(feds, lower)?;
    let me = crate::node_cmds::member_of(report, &key.public()).unwrap_or(key.public()).to_did();
    let t = now().as_secs();
    let mandate = lrep["mandates"].as_array().into_iter().flatten().find(|x| {
        x["federation"].as_str() == Some(&fed.to_hex())
            && x["council"].as_str() == Some(&council.to_hex())
            && x["delegate"].as_str() == Some(&me)
            && x["recalled_at"].is_null()
            && x["superseded_at"].is_null()
            && x["expires_at"].as_u64().is_some_and(|e| t < e)
    });
    let Some(mandate) = mandate else {
        bail!(
            "federation {} gave {} no mandate in force in this federation; it gives one with `council federation act \
             {} mandate`",
            lower.short(),
            key.public().short(),
            lower.short()
        );
    };
    let mid = mandate["id"].as_str().and_then(Hash::from_hex).context("the node sent a malformed mandate id")?;
    let options = mrep["options"].as_array().map_or(0, Vec::len);
    // A split: the one the mandate states, or the weighted tally of the federation's own
    // motion it names (PROTOCOL.md §8.1).
    let split = if choice.trim().eq_ignore_ascii_case("split") {
        let instruction = mandate["instructions"]
            .as_array()
            .and_then(|l| l.iter().find(|p| p[0].as_str() == mrep["matter"].as_str()))
            .map(|p| p[1].clone())
            .unwrap_or(Value::Null);
        let parts: Vec<u32> = if let Some(stated) = instruction["split"]["stated"].as_array() {
            stated.iter().filter_map(|p| p.as_u64().map(|p| p as u32)).collect()
        } else if let Some(id) = instruction["split"]["of-motion"].as_str() {
            let (_, own) = fed_motion(&lrep, id)?;
            if own["outcome"].is_null() {
                bail!("the federation's motion {} has not closed yet: its split is not known", short(&own["id"]));
            }
            let weighted: Vec<u64> =
                own["weighted"].as_array().map(|c| c.iter().filter_map(Value::as_u64).collect()).unwrap_or_default();
            council_core::records::split_of(&weighted[..options.min(weighted.len())])
                .context("the federation's motion closed with no ballot for any option: there is no split to cast")?
        } else {
            bail!("the federation's mandate does not instruct a split on this matter");
        };
        Some(parts)
    } else {
        None
    };
    let choice = match split {
        Some(_) => options as u32,
        None => crate::node_cmds::parse_choice(mrep, choice)?,
    };
    let counter = now().as_micros() as u64;
    let body = DelegateVoteBody { federation: fed, motion: m, council: lower, mandate: mid, choice, counter, split };
    let r = node.post_record("/v1/delegate-votes", &Signed::sign(body, key).to_cbor())?;
    print(json, &r, || {
        say!(
            "ballot for federation {} recorded (log entry {}); it reaches the federation by gossip",
            lower.short(),
            r["seq"]
        )
    });
    Ok(())
}

pub fn list(node: &Node, json: bool) -> anyhow::Result<()> {
    let feds = node.get("/v1/federations")?;
    print(json, &feds, || {
        let list = feds["federations"].as_array().cloned().unwrap_or_default();
        if list.is_empty() {
            say!("this council knows of no federation yet");
        }
        for f in list {
            let members =
                f["members"].as_array().map(|m| m.iter().filter(|x| x["left_at"].is_null()).count()).unwrap_or(0);
            let founded = if f["founded_at"].is_null() { "not founded yet" } else { "founded" };
            say!(
                "{}  {:?}  {founded}, {members} member council(s)",
                f["id"].as_str().unwrap_or("?"),
                f["name"].as_str().unwrap_or("")
            );
        }
        for j in feds["joining"].as_array().cloned().unwrap_or_default() {
            say!("joining {}", j.as_str().unwrap_or("?"));
        }
        for c in feds["forked"].as_array().cloned().unwrap_or_default() {
            say!("FORKED council {} (its node signed two versions of its log)", c.as_str().unwrap_or("?"));
        }
    });
    Ok(())
}

/// Councils by name: this council's own, and those whose logs the node follows.
struct Names {
    names: std::collections::HashMap<String, String>,
    this: String,
}

impl Names {
    fn of(node: &Node) -> Names {
        let mut names = std::collections::HashMap::new();
        let mut this = String::new();
        if let Ok(own) = node.get("/v1/council") {
            let id = own["id"].as_str().unwrap_or("").to_owned();
            names.insert(id.clone(), own["name"].as_str().unwrap_or("").to_owned());
            this = id;
        }
        if let Ok(net) = node.get("/v1/network") {
            for c in net["followed"].as_array().into_iter().flatten() {
                names.insert(
                    c["council"].as_str().unwrap_or("").to_owned(),
                    c["name"].as_str().unwrap_or("").to_owned(),
                );
            }
        }
        Names { names, this }
    }

    /// "Name (id prefix)", or "council id-prefix" for a council not followed here.
    fn council(&self, v: &Value) -> String {
        let id = v.as_str().unwrap_or("?");
        let short: String = id.chars().take(12).collect();
        let here = if id == self.this { ", this council" } else { "" };
        match self.names.get(id) {
            Some(n) if !n.is_empty() => format!("{n} ({short}{here})"),
            _ => format!("council {short}{here}"),
        }
    }
}

/// Who waits for admission and for whose countersignature, and who used which invite.
fn pending_lines(f: &Value, names: &Names) -> Vec<String> {
    let council = |v: &Value| names.council(v);
    let mut out = Vec::new();
    let waiting = f["admissions"].as_array().cloned().unwrap_or_default();
    if !waiting.is_empty() {
        out.push("waiting for admission (member councils countersign with `council federation admit`):".to_owned());
    }
    let members: Vec<Value> = f["members"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["left_at"].is_null())
        .map(|m| m["council"].clone())
        .collect();
    for a in &waiting {
        let signed: Vec<Value> = a["countersigned_by"].as_array().cloned().unwrap_or_default();
        let yet: Vec<String> = members.iter().filter(|m| !signed.contains(m)).map(council).collect();
        out.push(format!(
            "  {}: countersigned by {} of the {} needed{}{}",
            council(&a["council"]),
            signed.len(),
            a["needed"],
            if signed.is_empty() {
                String::new()
            } else {
                format!(" ({})", signed.iter().map(council).collect::<Vec<_>>().join(", "))
            },
            if yet.is_empty() { String::new() } else { format!("; not yet: {}", yet.join(", ")) }
        ));
    }
    for i in f["invites"].as_array().cloned().unwrap_or_default() {
        let expires = i["expires_at"].as_u64().unwrap_or(0);
        let open = i["uses"].as_u64() < i["max_uses"].as_u64() && expires >= now().as_secs();
        let used_by: Vec<String> = i["used_by"].as_array().into_iter().flatten().map(council).collect();
        out.push(format!(
            "invite from {}: used {} of {}{}, {} {}",
            council(&i["issuer"]),
            i["uses"],
            i["max_uses"],
            if used_by.is_empty() { String::new() } else { format!(" (by {})", used_by.join(", ")) },
            if open { "open until" } else { "closed; it ran until" },
            humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + Duration::from_secs(expires))
        ));
    }
    out
}

/// `federation pending [FED]`: for each federation (or the one named), the councils
/// waiting for admission with the countersignatures they have and lack, and each invite
/// with the councils that used it.
pub fn pending(node: &Node, federation: Option<&str>, json: bool) -> anyhow::Result<()> {
    let feds = node.get("/v1/federations")?;
    let chosen: Vec<Value> = match federation {
        Some(f) => {
            let (_, v) = federation_arg(&feds, f)?;
            if v.is_null() {
                bail!("no federation {f} is known to this node");
            }
            vec![v]
        }
        None => feds["federations"].as_array().cloned().unwrap_or_default(),
    };
    let out: Vec<Value> = chosen
        .iter()
        .map(|f| serde_json::json!({ "federation": f["id"], "name": f["name"], "admissions": f["admissions"], "invites": f["invites"] }))
        .collect();
    let names = Names::of(node);
    print(json, &Value::Array(out), || {
        if chosen.is_empty() {
            say!("this council is in no federation");
        }
        for f in &chosen {
            say!("federation {:?} ({})", f["name"].as_str().unwrap_or(""), f["id"].as_str().unwrap_or(""));
            let lines = pending_lines(f, &names);
            if lines.is_empty() {
                say!("  nobody waits for admission, and no invite was issued");
            }
            for line in lines {
                say!("{line}");
            }
        }
    });
    Ok(())
}

pub fn show(node: &Node, federation: &str, json: bool) -> anyhow::Result<()> {
    let feds = node.get("/v1/federations")?;
    let (_, f) = federation_arg(&feds, federation)?;
    if f.is_null() {
        bail!("no federation {federation} is known to this node");
    }
    let void: Vec<Value> = feds["void_events"].as_array().cloned().unwrap_or_default();
    let names = Names::of(node);
    let council = |v: &Value| names.council(v);
    print(json, &f, || {
        say!("federation {:?}\nid {}", f["name"].as_str().unwrap_or(""), f["id"].as_str().unwrap_or(""));
        for p in f["principles"].as_array().cloned().unwrap_or_default() {
            say!("  principle: {}", p.as_str().unwrap_or(""));
        }
        if f["founded_at"].is_null() {
            say!("not founded yet: every founder's council signs the charter by council act");
        }
        say!("members:");
        for m in f["members"].as_array().cloned().unwrap_or_default() {
            let left = if m["left_at"].is_null() { "" } else { " (left)" };
            let founder = if m["founder"] == true { ", founder" } else { "" };
            let who = if m["federation"] == true {
                format!("federation {}", federation_name(&feds, &m["council"]))
            } else {
                council(&m["council"])
            };
            say!("  {who}{founder}{left}");
        }
        for m in f["mandates"].as_array().cloned().unwrap_or_default() {
            let state = if !m["recalled_at"].is_null() {
                "recalled"
            } else if !m["superseded_at"].is_null() {
                "superseded"
            } else {
                "in force until it expires or is recalled"
            };
            say!(
                "its delegate in federation {}: {} of {} (mandate {}): {state}",
                federation_name(&feds, &m["federation"]),
                crate::report::short_did(m["delegate"].as_str().unwrap_or("?")),
                council(&m["council"]),
                short(&m["id"])
            );
        }
        for line in pending_lines(&f, &names) {
            say!("{line}");
        }
        for m in f["motions"].as_array().cloned().unwrap_or_default() {
            let options: Vec<String> =
                m["options"].as_array().into_iter().flatten().filter_map(|o| o.as_str().map(str::to_owned)).collect();
            let label = |i: &Value| -> String {
                match i.as_u64().and_then(|i| options.get(i as usize)) {
                    Some(o) => format!("{o:?}"),
                    None if i.as_u64() == Some(options.len() as u64) => "abstain".into(),
                    None => format!("option {i}"),
                }
            };
            let state = match m["outcome"]["result"].as_str() {
                Some("chosen") => format!("chose {}", label(&m["outcome"]["option"])),
                Some(r) => r.replace('-', " "),
                None => format!(
                    "open until {}",
                    humantime::format_rfc3339_seconds(
                        std::time::UNIX_EPOCH + Duration::from_secs(m["closes_at"].as_u64().unwrap_or(0))
                    )
                ),
            };
            say!(
                "motion {} {:?} on {:?}: {state}",
                short(&m["id"]),
                m["title"].as_str().unwrap_or(""),
                m["matter"].as_str().unwrap_or("")
            );
            // A split vote: each option's share, in percent.
            let cast = |v: &Value| -> String {
                match v["split"].as_array() {
                    Some(parts) => {
                        let shares: Vec<String> = parts
                            .iter()
                            .zip(&options)
                            .map(|(p, o)| format!("{o:?} {:.2}%", p.as_u64().unwrap_or(0) as f64 / 100.0))
                            .collect();
                        format!("the council's split ({})", shares.join(", "))
                    }
                    None => label(&v["choice"]),
                }
            };
            if let Some(a) = m["act"].as_object() {
                let status = match a.get("status").and_then(Value::as_str).unwrap_or("") {
                    "awaiting-ratification" => format!(
                        "passed; waits for its councils' ratification ({} accepted, {} needed)",
                        m["ratifications"].as_array().map_or(0, |r| r.iter().filter(|x| x[1] == true).count()),
                        a.get("needed").and_then(Value::as_u64).unwrap_or(0)
                    ),
                    "void" => format!("VOID: {}", a.get("reason").and_then(Value::as_str).unwrap_or("")),
                    other => other.replace('-', " "),
                };
                let target = a.get("target").map(|t| format!(" in federation {}", federation_name(&feds, t)));
                say!(
                    "  the federation's act: {}{}: {status}",
                    a.get("kind").and_then(Value::as_str).unwrap_or("?"),
                    target.unwrap_or_default()
                );
            }
            for v in m["votes"].as_array().cloned().unwrap_or_default() {
                let voter = match v["federation"].as_str() {
                    Some(_) => format!(
                        "federation {} (through {})",
                        federation_name(&feds, &v["federation"]),
                        council(&v["council"])
                    ),
                    None => council(&v["council"]),
                };
                say!(
                    "  {} voted {} (delegate {}): {}",
                    voter,
                    cast(&v),
                    crate::report::short_did(v["delegate"].as_str().unwrap_or("?")),
                    v["status"].as_str().unwrap_or("?")
                );
            }
        }
        for v in &void {
            say!("void event: {} entry {}: {}", council(&v["council"]), v["seq"], v["reason"].as_str().unwrap_or(""));
        }
    });
    Ok(())
}

/// A federation's name and id prefix, from the node's list of federations.
fn federation_name(feds: &Value, id: &Value) -> String {
    let name =
        feds["federations"].as_array().into_iter().flatten().find(|f| f["id"] == *id).and_then(|f| f["name"].as_str());
    match name {
        Some(n) => format!("{n:?} ({})", short(id)),
        None => short(id),
    }
}

fn short(v: &Value) -> String {
    v.as_str().map(|s| s.chars().take(12).collect()).unwrap_or_else(|| "?".into())
}

pub fn add_peer(node: &Node, addr: &str, json: bool) -> anyhow::Result<()> {
    let r = node.post_json("/v1/peers", &serde_json::json!({ "addr": addr }))?;
    print(json, &r, || say!("dialing {addr}; the node keeps redialing it"));
    Ok(())
}

pub fn list_peers(node: &Node, json: bool) -> anyhow::Result<()> {
    let n = node.get("/v1/network")?;
    let names: std::collections::HashMap<String, String> = n["followed"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|f| (f["council"].as_str().unwrap_or("").to_owned(), f["name"].as_str().unwrap_or("").to_owned()))
        .collect();
    let v = serde_json::json!({ "dialing": n["dialing"], "connected": n["connected"] });
    print(json, &v, || {
        let dialing = n["dialing"].as_array().cloned().unwrap_or_default();
        if dialing.is_empty() {
            say!("dialing no address (add one with `council peer add ADDR`)");
        }
        for a in dialing {
            say!("dialing   {}", a.as_str().unwrap_or("?"));
        }
        let connected = n["connected"].as_array().cloned().unwrap_or_default();
        if connected.is_empty() {
            say!("connected to no node");
        }
        for p in connected {
            let who = match p["council"].as_str() {
                Some(c) => match names.get(c) {
                    Some(name) => format!("{name} ({})", &c[..12.min(c.len())]),
                    None => format!("council {}", &c[..12.min(c.len())]),
                },
                None => "not (yet) a council this one is in a federation with".into(),
            };
            say!("connected {}  {who}", p["peer"].as_str().unwrap_or("?"));
        }
    });
    Ok(())
}

pub fn remove_peer(node: &Node, peer: &str, json: bool) -> anyhow::Result<()> {
    let r = node.delete_with("/v1/peers", &[("peer", peer.trim())])?;
    print(json, &r, || {
        for a in r["removed"].as_array().cloned().unwrap_or_default() {
            say!("no longer dialing {}", a.as_str().unwrap_or("?"));
        }
        if let Some(p) = r["disconnected"].as_str() {
            say!("disconnected {p}");
        }
    });
    Ok(())
}

pub fn network(node: &Node, json: bool) -> anyhow::Result<()> {
    let n = node.get("/v1/network")?;
    print(json, &n, || {
        say!("peer id {}", n["peer_id"].as_str().unwrap_or("?"));
        if n["listen"].as_array().is_none_or(Vec::is_empty) {
            say!("not listening for other councils' nodes: the node opens its port once this council takes part in a federation (or set network.listen)");
        }
        for a in n["listen"].as_array().cloned().unwrap_or_default() {
            say!("listening on {}", a.as_str().unwrap_or("?"));
        }
        for p in n["connected"].as_array().cloned().unwrap_or_default() {
            let c = if p["council"].is_null() { "(not a member)".to_owned() } else { short(&p["council"]) };
            say!("connected {} council {c}", p["peer"].as_str().unwrap_or("?"));
        }
        for f in n["followed"].as_array().cloned().unwrap_or_default() {
            if f["copy"] == true {
                // A council bound with this one only through a member federation: its
                // federation-level entries alone (PROTOCOL.md §12.9).
                say!(
                    "following {} {:?}: its federation-level entries, up to entry {} (no ballots)",
                    short(&f["council"]),
                    f["name"].as_str().unwrap_or(""),
                    f["entries"]
                );
            } else {
                say!(
                    "following {} {:?}: {} entries",
                    short(&f["council"]),
                    f["name"].as_str().unwrap_or(""),
                    f["entries"]
                );
            }
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_council_waiting_for_admission_is_found_by_a_prefix() {
        let (a, b) = ("abcdef01".repeat(8), "abcdef02".repeat(8));
        let rep = serde_json::json!({ "pending": [a, b] });
        assert_eq!(pending_council(&rep, "ABCDEF01").unwrap().to_hex(), a, "case does not matter");
        assert_eq!(pending_council(&rep, &b[..20]).unwrap().to_hex(), b);
        let e = pending_council(&rep, "abcdef").unwrap_err().to_string();
        assert!(e.contains("several"), "{e}");
        let e = pending_council(&rep, "abc").unwrap_err().to_string();
        assert!(e.contains("at least 6"), "{e}");
        let e = pending_council(&rep, "123456").unwrap_err().to_string();
        assert!(e.contains("abcdef01abcd, abcdef02abcd"), "those waiting are named: {e}");
        // A full id nobody has seen waiting yet is taken as given.
        let full = "12".repeat(32);
        assert_eq!(pending_council(&rep, &full).unwrap().to_hex(), full);
        let e = pending_council(&serde_json::json!({}), "123456").unwrap_err().to_string();
        assert!(e.contains("none waits"), "{e}");
    }

    #[test]
    fn an_invite_string_fits_a_qr_code() {
        let invite = council_core::invite::InviteString {
            federation: Hash([1; 32]),
            issuer: Hash([2; 32]),
            key: council_core::SecretKey::from_seed(&[3; 32]),
            expires_at: 1_800_000_000,
            addrs: vec![
                "/ip4/192.168.1.20/tcp/7421/p2p/12D3KooWJUNR6WUZPCywDGTTNzftWQ3i8bmJdoDzSkzBiT9GhipP".into();
                2
            ],
        };
        let code = qr(&invite.to_string()).expect("an invite with two addresses fits");
        let rows: Vec<&str> = code.lines().collect();
        assert!(rows.len() > 20, "{code}");
        assert!(rows.iter().all(|r| r.chars().count() == rows[0].chars().count()), "a square:\n{code}");
        assert!(code.contains('█') || code.contains('▀') || code.contains('▄'), "{code}");
    }

    #[test]
    fn a_federation_is_found_by_a_prefix() {
        let f = "0f".repeat(32);
        let v = serde_json::json!({ "federations": [{ "id": f, "name": "Riverside" }] });
        assert_eq!(federation_arg(&v, "0f0f0f").unwrap().0.to_hex(), f);
        assert_eq!(federation_arg(&v, "0f0f0f").unwrap().1["name"], "Riverside");
        assert!(federation_arg(&v, "aaaaaa").is_err());
        // Unknown here (an offline node), but whole: taken as given.
        assert_eq!(federation_arg(&Value::Null, &"ab".repeat(32)).unwrap().0.to_hex(), "ab".repeat(32));
    }
}
