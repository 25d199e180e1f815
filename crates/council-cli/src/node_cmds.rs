//! Commands that act through a running `councild`: motions, votes, roster changes,
//! mandates, recalls, export. Records are signed here, with the member's own key, and
//! only the signed record goes to the node.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use council_core::cbor::Cbor;
use council_core::records::{
    Action, DeviceBody, DeviceChange, DeviceProof, Instruction, Mandate, MotionBody, MotionForm, NameBody,
    PetitionBody, RankingBody, Rule, Scope, Share, Signed, SplitSource, Threshold, VoteBody, SPLIT_PARTS,
};
use council_core::{Hash, PublicKey, SecretKey};
use serde_json::Value;

use crate::client::Node;
use crate::keyfile;

pub fn now() -> Duration {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default()
}

pub fn council_id(report: &Value) -> anyhow::Result<Hash> {
    report["id"].as_str().and_then(Hash::from_hex).context("the node's answer has no council id")
}

fn rule_from(v: &Value) -> anyhow::Result<Rule> {
    let n = |x: &Value| x.as_u64().and_then(|n| u32::try_from(n).ok()).context("malformed rule from the node");
    Ok(Rule {
        quorum: Share::new(n(&v["quorum"]["num"])?, n(&v["quorum"]["den"])?),
        threshold: Threshold {
            num: n(&v["threshold"]["num"])?,
            den: n(&v["threshold"]["den"])?,
            strict: v["threshold"]["strict"].as_bool().context("malformed rule from the node")?,
        },
    })
}

/// Finds a motion (or mandate) by its id or a unique prefix of it (at least 6 digits).
pub fn resolve(report: &Value, list: &str, id: &str) -> anyhow::Result<(Hash, Value)> {
    let id = id.trim().to_lowercase();
    if id.len() < 6 {
        bail!("give at least 6 hex digits of the id");
    }
    let items = report[list].as_array().cloned().unwrap_or_default();
    let hits: Vec<&Value> = items.iter().filter(|m| m["id"].as_str().is_some_and(|x| x.starts_with(&id))).collect();
    match hits.as_slice() {
        [one] => {
            Ok((one["id"].as_str().and_then(Hash::from_hex).context("malformed id from the node")?, (*one).clone()))
        }
        [] => bail!("no {} with an id starting {id}", list.trim_end_matches('s')),
        _ => bail!("{} {}s have ids starting {id}; give more digits", hits.len(), list.trim_end_matches('s')),
    }
}

pub fn print(json: bool, v: &Value, human: impl FnOnce()) {
    if json {
        say!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
    } else {
        human();
    }
}

pub struct OpenArgs<'a> {
    pub key: &'a Path,
    pub title: String,
    pub options: Vec<String>,
    pub ranked: bool,
    pub closes_in: Duration,
    pub quorum: Option<Share>,
    pub threshold: Option<Threshold>,
}

/// A motion about to be signed.
struct Draft {
    title: String,
    form: MotionForm,
    rule: Rule,
    closes_in: Duration,
}

fn open(node: &Node, report: &Value, key: &SecretKey, d: Draft, json: bool) -> anyhow::Result<()> {
    let mut nonce = [0u8; 8];
    getrandom::getrandom(&mut nonce).map_err(|e| anyhow::anyhow!("no randomness for the motion nonce: {e}"))?;
    let Draft { title, form, rule, closes_in } = d;
    let body = MotionBody {
        council: council_id(report)?,
        title,
        form,
        rule,
        closes_at: (now() + closes_in).as_secs(),
        nonce: u64::from_le_bytes(nonce),
    };
    let m = Signed::sign(body, key);
    let r = node.post_record("/v1/motions", &m.to_cbor())?;
    print(json, &r, || say!("motion {} opened; it closes in {}", m.id(), humantime::format_duration(closes_in)));
    Ok(())
}

pub fn motion_open(node: &Node, a: OpenArgs<'_>, json: bool) -> anyhow::Result<()> {
    let key = keyfile::load(a.key)?;
    let report = node.get("/v1/council")?;
    let form = if a.options.is_empty() {
        MotionForm::YesNo(Action::Resolution)
    } else if a.options.len() == 1 {
        bail!("a choice needs at least two --option values (none makes a yes/no motion)");
    } else if a.ranked {
        if a.threshold.is_some_and(|t| t != council_core::tally::RANKED_THRESHOLD) {
            bail!("a ranked motion has no --threshold: the Schulze method picks the winner");
        }
        MotionForm::Ranked(a.options)
    } else {
        MotionForm::Choice(a.options)
    };
    let rule = Rule {
        quorum: a.quorum.unwrap_or(Share::new(1, 2)),
        threshold: a.threshold.unwrap_or(Threshold::SIMPLE_MAJORITY),
    };
    open(node, &report, &key, Draft { title: a.title, form, rule, closes_in: a.closes_in }, json)
}

/// What `council rules amend` changes; `None` keeps the rule in force.
pub struct RulesChange {
    pub act_quorum: Option<Share>,
    pub act_threshold: Option<Threshold>,
    pub petition: Option<Threshold>,
    pub openers: Option<council_core::records::Openers>,
    pub device_limit: Option<u32>,
    pub devices_by_act: Option<bool>,
}

/// `council rules show`.
pub fn rules_show(node: &Node, json: bool) -> anyhow::Result<()> {
    let report = node.get("/v1/council")?;
    let out = serde_json::json!({ "rules": report["rules"], "rule_changes": report["rule_changes"] });
    print(json, &out, || {
        say!("{}", rules_text(&report["rules"]));
        match report["rule_changes"].as_array().map(Vec::len).unwrap_or(0) {
            0 => say!("(the genesis rules: never amended)"),
            n => say!("amended {n} time(s); latest at log entry {}", report["rule_changes"][n - 1]["seq"]),
        }
    });
    Ok(())
}

/// The rules as people read them.
fn rules_text(r: &Value) -> String {
    let share = |s: &Value| format!("{}/{}", s["num"], s["den"]);
    let threshold =
        |t: &Value| format!("{} {}/{}", if t["strict"] == true { "more than" } else { "at least" }, t["num"], t["den"]);
    let rule = |r: &Value| format!("quorum {}, {} of the votes cast", share(&r["quorum"]), threshold(&r["threshold"]));
    let openers = match r["openers"]["kind"].as_str() {
        Some("listed") => format!("listed members ({})", r["openers"]["members"].as_array().map(Vec::len).unwrap_or(0)),
        _ => "any member".into(),
    };
    let amend = if r["amend_rule"].is_null() { "as acts".into() } else { rule(&r["amend_rule"]) };
    format!(
        "council acts: {}
amendments of the rules: {amend}
recall by petition: {} of the roster
who may open motions: {openers}
devices: at most {} per member, added {}",
        rule(&r["act_rule"]),
        threshold(&r["petition"]),
        r["devices"]["limit"],
        if r["devices"]["by_act"] == true { "by council act" } else { "by the member" }
    )
}

/// `council rules amend`: opens the `amend-rules` act with the rules in force, changed.
pub fn rules_amend(node: &Node, key: &Path, c: RulesChange, closes_in: Duration, json: bool) -> anyhow::Result<()> {
    let key = keyfile::load(key)?;
    let report = node.get("/v1/council")?;
    let mut rules: council_core::records::CouncilRules = rules_from(&report["rules"])?;
    let before = rules.clone();
    if let Some(q) = c.act_quorum {
        rules.act_rule.quorum = q;
    }
    if let Some(t) = c.act_threshold {
        rules.act_rule.threshold = t;
    }
    if let Some(p) = c.petition {
        rules.petition = p;
    }
    if let Some(o) = c.openers {
        rules.openers = o;
    }
    if let Some(l) = c.device_limit {
        rules.devices.limit = l;
    }
    if let Some(b) = c.devices_by_act {
        rules.devices.by_act = b;
    }
    if rules == before {
        bail!("nothing to amend: name a rule that changes (see `council rules amend --help`)");
    }
    let action = Action::AmendRules(rules);
    let rule = before.rule_for(&action);
    let title = "Amend the council's rules".to_owned();
    open(node, &report, &key, Draft { title, form: MotionForm::YesNo(action), rule, closes_in }, json)
}

/// The council rules from the node's JSON report.
fn rules_from(v: &Value) -> anyhow::Result<council_core::records::CouncilRules> {
    use council_core::records::{DeviceRules, Openers};
    let threshold = |t: &Value| -> anyhow::Result<Threshold> {
        Ok(Threshold {
            num: t["num"].as_u64().context("a threshold without num")? as u32,
            den: t["den"].as_u64().context("a threshold without den")? as u32,
            strict: t["strict"].as_bool().context("a threshold without strict")?,
        })
    };
    let openers = match v["openers"]["kind"].as_str() {
        Some("listed") => Openers::Listed(
            v["openers"]["members"]
                .as_array()
                .context("listed openers without members")?
                .iter()
                .map(|m| PublicKey::from_did(m.as_str().unwrap_or("")).context("a listed opener is not a did:key"))
                .collect::<anyhow::Result<_>>()?,
        ),
        _ => Openers::AnyMember,
    };
    Ok(council_core::records::CouncilRules {
        act_rule: rule_from(&v["act_rule"])?,
        petition: threshold(&v["petition"])?,
        openers,
        devices: DeviceRules {
            limit: v["devices"]["limit"].as_u64().context("device rules without a limit")? as u32,
            by_act: v["devices"]["by_act"].as_bool().unwrap_or(false),
        },
        amend_rule: if v["amend_rule"].is_null() { None } else { Some(rule_from(&v["amend_rule"])?) },
    })
}

/// Opens a council act (it uses the rule the council's rules set for it).
pub fn act(
    node: &Node,
    key: &Path,
    title: String,
    action: Action,
    closes_in: Duration,
    json: bool,
) -> anyhow::Result<()> {
    let key = keyfile::load(key)?;
    let report = node.get("/v1/council")?;
    let rule = rules_from(&report["rules"])?.rule_for(&action);
    let form = MotionForm::YesNo(action);
    open(node, &report, &key, Draft { title, form, rule, closes_in }, json)
}

fn motion_line(m: &Value) -> String {
    let id = m["id"].as_str().unwrap_or("?");
    let options: Vec<String> = m["options"]
        .as_array()
        .map(|o| o.iter().filter_map(|x| x.as_str().map(str::to_owned)).collect())
        .unwrap_or_default();
    let counts: Vec<u64> =
        m["counts"].as_array().map(|c| c.iter().filter_map(Value::as_u64).collect()).unwrap_or_default();
    let tally: Vec<String> = options
        .iter()
        .chain(std::iter::once(&"abstain".to_string()))
        .zip(&counts)
        .map(|(o, n)| format!("{o} {n}"))
        .collect();
    let state = match m["outcome"]["result"].as_str() {
        Some("chosen") => {
            let i = m["outcome"]["option"].as_u64().unwrap_or(0) as usize;
            format!("chose {:?}", options.get(i).cloned().unwrap_or_default())
        }
        Some(r) => r.replace('-', " "),
        None => "open".into(),
    };
    format!(
        "{}  [{}] {:?}: {state}  ({} of {} eligible)",
        id.get(..12).unwrap_or(id),
        m["kind"].as_str().unwrap_or("?"),
        m["title"].as_str().unwrap_or(""),
        tally.join(" · "),
        m["electorate"]
    )
}

/// A motion by its id or its first 6+ hex digits, as the node finds it.
pub fn find_motion(node: &Node, id: &str) -> anyhow::Result<(Hash, Value)> {
    let id = id.trim().to_lowercase();
    if id.len() < 6 {
        bail!("give at least 6 hex digits of the motion id");
    }
    let m = node.get(&format!("/v1/motions/{id}"))?;
    let hash = m["id"].as_str().and_then(Hash::from_hex).context("malformed motion id from the node")?;
    Ok((hash, m))
}

/// Every motion, oldest first: the open ones, then the closed ones page by page.
fn all_motions(node: &Node, closed_limit: Option<usize>) -> anyhow::Result<(Vec<Value>, u64)> {
    let report = node.get("/v1/council")?;
    let closed_total = report["closed_motions"].as_u64().unwrap_or(0);
    let mut closed = Vec::new();
    let mut before: Option<u64> = None;
    loop {
        if closed_limit.is_some_and(|l| closed.len() >= l) {
            break;
        }
        let cursor = before.map(|b| format!("&before={b}")).unwrap_or_default();
        let page = node.get(&format!("/v1/motions?status=closed&limit=100{cursor}"))?;
        closed.extend(page["motions"].as_array().cloned().unwrap_or_default());
        match page["next"].as_u64() {
            Some(n) => before = Some(n),
            None => break,
        }
    }
    if let Some(l) = closed_limit {
        closed.truncate(l);
    }
    // Pages come newest first; the list reads oldest first, as the log does.
    closed.reverse();
    let mut all: Vec<Value> = closed;
    all.extend(report["motions"].as_array().cloned().unwrap_or_default());
    all.sort_by_key(|m| m["opened_at"].as_u64().unwrap_or(0));
    Ok((all, closed_total))
}

pub fn motion_list(node: &Node, all: bool, json: bool) -> anyhow::Result<()> {
    let (ms, closed_total) = all_motions(node, if all || json { None } else { Some(20) })?;
    print(json, &Value::Array(ms.clone()), || {
        if ms.is_empty() {
            say!("no motions yet");
        }
        for m in &ms {
            say!("{}", motion_line(m));
        }
        let shown = ms.iter().filter(|m| m["status"] != "open").count() as u64;
        if shown < closed_total {
            say!("({} older closed motions; `council motion list --all` shows them)", closed_total - shown);
        }
    });
    Ok(())
}

pub fn motion_show(node: &Node, id: &str, json: bool) -> anyhow::Result<()> {
    let (_, m) = find_motion(node, id)?;
    print(json, &m, || {
        say!("{}", motion_line(&m));
        say!(
            "id {}\nrule {}\nballots received {}, changed {}",
            m["id"],
            m["rule"],
            m["ballots_received"],
            m["ballots_changed"]
        );
        if let Some(e) = m["effect"]["effect"].as_str() {
            say!("effect: {e} {}", m["effect"]["reason"].as_str().unwrap_or(""));
        }
        if let Some(rows) = m["pairwise"].as_array() {
            let options: Vec<&str> =
                m["options"].as_array().map(|o| o.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
            say!("ranked (Schulze method); the counts above are first choices. How many rank each option above each other:");
            for (i, row) in rows.iter().enumerate() {
                let cells: Vec<String> = row
                    .as_array()
                    .map(|r| {
                        r.iter()
                            .enumerate()
                            .filter(|(j, _)| *j != i)
                            .map(|(j, n)| format!("{} {n}", options.get(j).unwrap_or(&"?")))
                            .collect()
                    })
                    .unwrap_or_default();
                say!("  {} over: {}", options.get(i).unwrap_or(&"?"), cells.join(", "));
            }
        }
        if let Some(choice) = m["my_ballot"]["choice"].as_u64() {
            let option = m["options"].get(choice as usize).and_then(Value::as_str).unwrap_or("abstain");
            let how = if m["my_ballot"]["final"] == true { "final" } else { "you may change it until the close" };
            say!("your ballot: {option} ({how})");
        }
    });
    Ok(())
}

/// Reads a choice: yes, no, abstain, an option's label, or its number.
pub(crate) fn parse_choice(m: &Value, choice: &str) -> anyhow::Result<u32> {
    let options: Vec<String> = m["options"]
        .as_array()
        .map(|o| o.iter().filter_map(|x| x.as_str().map(str::to_owned)).collect())
        .unwrap_or_default();
    let c = choice.trim();
    if c.eq_ignore_ascii_case("abstain") {
        return Ok(options.len() as u32);
    }
    if let Some(i) = options.iter().position(|o| o.eq_ignore_ascii_case(c)) {
        return Ok(i as u32);
    }
    if let Ok(i) = c.parse::<u32>() {
        if (i as usize) <= options.len() {
            return Ok(i);
        }
    }
    bail!("{c:?} is not a choice on this motion; choose one of: {}, abstain", options.join(", "))
}

pub fn vote(
    node: &Node,
    key: &Path,
    motion: &str,
    choices: &[String],
    is_final: bool,
    json: bool,
) -> anyhow::Result<()> {
    let key = keyfile::load(key)?;
    let report = node.get("/v1/council")?;
    let (id, m) = find_motion(node, motion)?;
    let ranked = m["kind"] == "ranked";
    // On a ranked motion, the whole ranking; otherwise one choice.
    let ranking = if ranked {
        let n = m["options"].as_array().map(Vec::len).unwrap_or(0);
        if let [one] = choices {
            if !one.trim().eq_ignore_ascii_case("abstain") {
                bail!("this motion is ranked: name all {n} options, most preferred first (or abstain)");
            }
            Some(Vec::new())
        } else {
            Some(choices.iter().map(|c| parse_choice(&m, c)).collect::<anyhow::Result<Vec<u32>>>()?)
        }
    } else {
        if choices.len() != 1 {
            bail!("this motion takes one choice; ranking several is for a ranked motion");
        }
        None
    };
    let choice = if ranked { 0 } else { parse_choice(&m, &choices[0])? };
    // The member's own ballot so far: the member endpoint shows it with the motion; the
    // operator API is asked by key.
    let prev = if node.is_member() {
        Some(m["my_ballot"].clone()).filter(|b| !b.is_null())
    } else {
        node.get_opt(&format!("/v1/motions/{id}/ballot/{}", key.public().to_did()))?
    };
    // A final ballot is not changed: the node says so (409 ballot-final), like any rule.
    let prev_counter = prev.as_ref().and_then(|p| p["counter"].as_u64());
    // Counters only need to rise; the time in milliseconds does, across devices too.
    let counter = (now().as_millis() as u64).max(prev_counter.unwrap_or(0) + 1);
    let council = council_id(&report)?;
    let r = match ranking {
        Some(ranking) => {
            let body = RankingBody { council, motion: id, ranking, counter, is_final };
            node.post_record("/v1/rankings", &Signed::sign(body, &key).to_cbor())?
        }
        None => {
            let body = VoteBody { council, motion: id, choice, counter, is_final };
            node.post_record("/v1/votes", &Signed::sign(body, &key).to_cbor())?
        }
    };
    print(json, &r, || {
        let what = if r["duplicate"] == true {
            "this ballot was already recorded"
        } else if prev.is_some() {
            "ballot changed"
        } else {
            "ballot recorded"
        };
        let after = if is_final {
            "it is final"
        } else {
            "you can change it until the motion closes (--final to give that up and let it close early)"
        };
        say!("{what} (log entry {}); {after}", r["seq"]);
    });
    Ok(())
}

pub fn petition(node: &Node, key: &Path, mandate: &str, json: bool) -> anyhow::Result<()> {
    let key = keyfile::load(key)?;
    let report = node.get("/v1/council")?;
    let (id, _) = resolve(&report, "mandates", mandate)?;
    let p = Signed::sign(PetitionBody { council: council_id(&report)?, mandate: id }, &key);
    let r = node.post_record("/v1/petitions", &p.to_cbor())?;
    let after = node.get("/v1/council")?;
    let (_, m) = resolve(&after, "mandates", &id.to_hex())?;
    print(json, &m, || {
        let what = if r["duplicate"] == true { "you had already signed the petition" } else { "petition signed" };
        say!("{what} (log entry {}); {} signature(s) so far", r["seq"], m["petition_signatures"]);
        if m["status"] == "recalled" {
            say!("the petition reached its share: the mandate is RECALLED");
        }
    });
    Ok(())
}

pub struct MandateArgs<'a> {
    pub key: &'a Path,
    pub delegate: String,
    pub federation: String,
    pub matters: Vec<String>,
    pub instruct: Vec<String>,
    pub expires_in: Duration,
    pub closes_in: Duration,
}

pub fn mandate(node: &Node, a: MandateArgs<'_>, json: bool) -> anyhow::Result<()> {
    let delegate =
        PublicKey::from_did(&a.delegate).with_context(|| format!("--delegate {} is not a did:key", a.delegate))?;
    // A node running offline knows no federations: then only a full id will do.
    let feds = node.get("/v1/federations").unwrap_or(Value::Null);
    let (federation, _) = crate::fed_cmds::federation_arg(&feds, &a.federation)
        .with_context(|| format!("--federation {}", a.federation))?;
    let instructions = parse_instructions(&a.instruct, |s| split_source(node, s))?;
    let scope = if a.matters.is_empty() { Scope::All } else { Scope::Matters(a.matters) };
    let m = Mandate { delegate, federation, scope, instructions, expires_at: (now() + a.expires_in).as_secs() };
    act(node, a.key, format!("Mandate {} as delegate", delegate.short()), Action::Mandate(m), a.closes_in, json)
}

/// `--instruct` values: `MATTER=CHOICE_NUMBER`, `MATTER=judgement`, or `MATTER=split:…`,
/// where `split_of` reads what follows `split:` (whose motion a split names depends on who
/// gives the mandate: a council's own motion, or a federation's).
pub(crate) fn parse_instructions(
    instruct: &[String],
    split_of: impl Fn(&str) -> anyhow::Result<SplitSource>,
) -> anyhow::Result<Vec<(String, Instruction)>> {
    let mut instructions = Vec::new();
    for i in instruct {
        let (matter, how) = i.split_once('=').with_context(|| {
            format!("--instruct {i:?}: use MATTER=CHOICE_NUMBER, MATTER=judgement or MATTER=split:…")
        })?;
        let ins = if how == "judgement" {
            Instruction::Judgement
        } else if let Some(split) = how.strip_prefix("split:") {
            Instruction::Split(split_of(split).with_context(|| format!("--instruct {i:?}"))?)
        } else {
            Instruction::Vote(
                how.parse().with_context(|| format!("--instruct {i:?}: the choice must be an option number"))?,
            )
        };
        instructions.push((matter.to_owned(), ins));
    }
    Ok(instructions)
}

/// A stated split, `60,40` (whole percentages per option, 100 in all), if `s` is one.
pub(crate) fn stated_split(s: &str) -> anyhow::Result<Option<SplitSource>> {
    if !s.contains(',') {
        return Ok(None);
    }
    let pct: Vec<u32> = s
        .split(',')
        .map(|p| p.trim().parse::<u32>())
        .collect::<Result<_, _>>()
        .context("a stated split is whole percentages per option, like split:60,40")?;
    if pct.iter().sum::<u32>() != 100 {
        bail!("a stated split's percentages must add up to 100");
    }
    Ok(Some(SplitSource::Stated(pct.iter().map(|p| p * (SPLIT_PARTS / 100)).collect())))
}

/// A split instruction: `split:MOTION` (the tally of this council's motion, by its id or
/// 6+ hex digits) or `split:60,40` (whole percentages per option, 100 in all).
fn split_source(node: &Node, s: &str) -> anyhow::Result<SplitSource> {
    if let Some(stated) = stated_split(s)? {
        return Ok(stated);
    }
    let (id, _) = find_motion(node, s)?;
    Ok(SplitSource::OfMotion(id))
}

/// A member as people read it: their name, and enough of their did:key to tell two
/// members apart (the part after the `did:key:z6Mk` every key shares).
pub fn member_label(m: &Value) -> String {
    let did = m["member"].as_str().unwrap_or("");
    let short = did.strip_prefix("did:key:z6Mk").unwrap_or(did);
    let short = short.get(..10).unwrap_or(short);
    let who = match m["name"].as_str() {
        Some(n) => format!("{n} ({short}…)"),
        None => format!("{short}… (no name given)"),
    };
    match m["keys"].as_array().map(Vec::len) {
        Some(n) if n > 1 => format!("{who}, {n} devices"),
        _ => who,
    }
}

/// `council name NAME`: the member's own name record.
pub fn set_name(node: &Node, key: &Path, name: &str, json: bool) -> anyhow::Result<()> {
    let key = keyfile::load(key)?;
    if name.trim().is_empty() {
        bail!("the name may not be blank");
    }
    let report = node.get("/v1/council")?;
    let n = Signed::sign(NameBody { council: council_id(&report)?, name: name.trim().to_owned() }, &key);
    let r = node.post_record("/v1/names", &n.to_cbor())?;
    print(json, &r, || say!("you are now known as {:?} in the council (log entry {})", name.trim(), r["seq"]));
    Ok(())
}

/// The member id whose current device keys include `key`, from the council report.
pub fn member_of(report: &Value, key: &PublicKey) -> anyhow::Result<PublicKey> {
    let did = key.to_did();
    let members = report["members"].as_array().cloned().unwrap_or_default();
    let m = members
        .iter()
        .find(|m| m["keys"].as_array().is_some_and(|ks| ks.iter().any(|k| k.as_str() == Some(did.as_str()))))
        .ok_or_else(|| anyhow::anyhow!("{did} is not a current key of any member of this council"))?;
    PublicKey::from_did(m["member"].as_str().unwrap_or("")).context("the node's report names a member badly")
}

/// The link code a device in use shows the new one: `councilnet-link:` + the council id in
/// hex + `:` + the member id's did:key. No secret.
pub fn device_link_code(node: &Node, key: &Path, json: bool) -> anyhow::Result<()> {
    let key = keyfile::load(key)?;
    let report = node.get("/v1/council")?;
    let member = member_of(&report, &key.public())?;
    let code = format!("{LINK}{}:{}", council_id(&report)?.to_hex(), member.to_did());
    print(json, &serde_json::json!({ "link_code": code }), || {
        say!("{code}");
        say!("on the new device: council device request --key NEW_KEY_FILE {code}");
    });
    Ok(())
}

const LINK: &str = "councilnet-link:";
const REQUEST: &str = "councilnet-device:";

/// `council device request LINK_CODE`: offline, on the new device. Its key signs the
/// proof that it is held for this council and member: `councilnet-device:` + its did:key
/// + `:` + the proof in hex.
pub fn device_request(key: &Path, link_code: &str, json: bool) -> anyhow::Result<()> {
    let key = keyfile::load(key)?;
    let (council, member) = link_code
        .trim()
        .strip_prefix(LINK)
        .and_then(|r| r.split_once(':'))
        .and_then(|(c, m)| Some((Hash::from_hex(c)?, PublicKey::from_did(m).ok()?)))
        .ok_or_else(|| anyhow::anyhow!("that is not a link code (it starts with {LINK}): `council device link-code` prints one on a device you already use"))?;
    let proof = DeviceProof { council, member }.sign(&key);
    let request = format!("{REQUEST}{}:{}", key.public().to_did(), hex::encode(proof.0));
    print(json, &serde_json::json!({ "request": request }), || {
        say!("{request}");
        say!("on a device you already use: council device add {request}");
    });
    Ok(())
}

/// Reads a device request: the new key and its proof.
fn parse_request(s: &str) -> Option<(PublicKey, council_core::Signature)> {
    let (did, proof) = s.trim().strip_prefix(REQUEST)?.rsplit_once(':')?;
    let mut sig = [0u8; 64];
    hex::decode_to_slice(proof, &mut sig).ok()?;
    Some((PublicKey::from_did(did).ok()?, council_core::Signature(sig)))
}

/// `council device add REQUEST|NEW_KEY_FILE`: the member's current device (`key`) vouches
/// for a new device key, with the new key's proof of possession: from its request (its
/// secret never moved), or made here from its key file. Where the council's rules add
/// devices by council act, it opens that act instead.
pub fn device_add(node: &Node, key: &Path, new_device: &str, closes_in: Duration, json: bool) -> anyhow::Result<()> {
    let key = keyfile::load(key)?;
    let report = node.get("/v1/council")?;
    let council = council_id(&report)?;
    let member = member_of(&report, &key.public())?;
    let stmt = DeviceProof { council, member };
    let (device, proof) = if new_device.trim().starts_with(REQUEST) {
        let (device, proof) = parse_request(new_device)
            .ok_or_else(|| anyhow::anyhow!("the device request is damaged: copy it again from the new device"))?;
        if !stmt.holds(&device, &proof) {
            bail!("this request was made for another member or council: make it again from your own link code (`council device link-code`)");
        }
        (device, proof)
    } else {
        let k = keyfile::load(Path::new(new_device))?;
        (k.public(), stmt.sign(&k))
    };
    if device == key.public() {
        bail!("the new device's key is the key you sign with: make one on the new device (`council key new FILE`)");
    }
    if report["rules"]["devices"]["by_act"] == true {
        let title = format!("Add a device key {} for {}", device.short(), member.short());
        let action = Action::AddDevice { member, device, proof };
        if !json {
            say!("this council adds devices by council act: opening the motion");
        }
        let rule = rules_from(&report["rules"])?.rule_for(&action);
        return open(node, &report, &key, Draft { title, form: MotionForm::YesNo(action), rule, closes_in }, json);
    }
    let change = DeviceChange::Add { device, proof };
    let d = Signed::sign(DeviceBody { council, member, change }, &key);
    let r = node.post_record("/v1/devices", &d.to_cbor())?;
    // The very same record again (records are deterministic) gets its first receipt: the
    // key may have been removed since, and a removed key never comes back.
    if r["duplicate"] == true && member_of(&node.get("/v1/council")?, &device).is_err() {
        bail!(
            "{} was a device key of yours and was removed (log entry {}): a removed key never comes back; make a new one on the device (`council key new FILE`)",
            device.to_did(),
            r["seq"]
        );
    }
    print(json, &r, || {
        say!("{} is now a device key of yours too (log entry {}): it votes as you", device.to_did(), r["seq"]);
    });
    Ok(())
}

/// `council device remove DID`: removes one of the member's own device keys (a lost
/// phone), signed by another (or the same) current device.
pub fn device_remove(node: &Node, key: &Path, device: &str, json: bool) -> anyhow::Result<()> {
    let key = keyfile::load(key)?;
    let device = PublicKey::from_did(device.trim()).with_context(|| format!("{device} is not a valid did:key"))?;
    let report = node.get("/v1/council")?;
    let council = council_id(&report)?;
    let member = member_of(&report, &key.public())?;
    let d = Signed::sign(DeviceBody { council, member, change: DeviceChange::Remove { device } }, &key);
    let r = node.post_record("/v1/devices", &d.to_cbor())?;
    print(json, &r, || say!("{} is no longer a key of yours (log entry {})", device.to_did(), r["seq"]));
    Ok(())
}

pub fn status(node: &Node, json: bool) -> anyhow::Result<()> {
    let r = node.get("/v1/council")?;
    print(json, &r, || {
        say!(
            "council {:?}\nid {}\nlog: {} entries",
            r["name"].as_str().unwrap_or(""),
            r["id"].as_str().unwrap_or(""),
            r["entries"]
        );
        let members = r["members"].as_array().cloned().unwrap_or_default();
        say!("members ({}):", members.len());
        for m in members {
            say!("  {}", member_label(&m));
        }
        let mandates = r["mandates"].as_array().cloned().unwrap_or_default();
        if !mandates.is_empty() {
            say!("mandates:");
            let all = r["members"].as_array().cloned().unwrap_or_default();
            for m in mandates {
                let delegate = all
                    .iter()
                    .find(|x| x["member"] == m["delegate"])
                    .map(member_label)
                    .unwrap_or_else(|| m["delegate"].as_str().unwrap_or("").to_owned());
                say!(
                    "  {} delegate {delegate}: {}",
                    m["id"].as_str().and_then(|i| i.get(..12)).unwrap_or("?"),
                    m["status"].as_str().unwrap_or("")
                );
            }
        }
    });
    Ok(())
}

pub fn export(node: &Node, out: &Path, json: bool) -> anyhow::Result<()> {
    // A fresh temporary file beside it, renamed into place when complete: a link planted
    // at a predictable name is never followed, and a failed download leaves `out` as it was.
    let mut file = council_files::AtomicFile::create(out, false)?;
    let bar = crate::progress::bytes(None, "downloading the export", json);
    let mut w = std::io::BufWriter::new(bar.wrap_write(file.file()));
    let n = node.download("/v1/export", &mut w)?;
    std::io::Write::flush(&mut w).with_context(|| format!("cannot write {}", out.display()))?;
    drop(w);
    bar.finish_and_clear();
    file.commit()?;
    let v = serde_json::json!({ "file": out, "bytes": n });
    print(json, &v, || {
        say!("wrote {} ({n} bytes); check it offline with: council verify {}", out.display(), out.display())
    });
    Ok(())
}

/// `council receipts check`: signs in (which checks every receipt held for the council)
/// and says how it went.
pub fn receipts_check(node: &Node, json: bool) -> anyhow::Result<std::process::ExitCode> {
    if !node.is_member() {
        bail!("receipts are checked on the member endpoint: give --node URL and --key FILE (no --token-file)");
    }
    // Signing in checks them (and prints a warning for each broken one).
    let report = node.get("/v1/council")?;
    let council = council_id(&report)?;
    let betrayals = node.broken_receipts().context("the receipts were not checked at sign-in")?;
    let dir = crate::receipts::dir()?.join(council.to_hex());
    let held = crate::receipts::load(&dir).map(|l| l.len()).unwrap_or(0);
    let v = serde_json::json!({ "council": council, "receipts": held, "broken": betrayals, "dir": dir });
    print(json, &v, || {
        if betrayals == 0 {
            say!("{held} receipt(s) checked against the node's log: every acknowledged record is there");
        } else {
            say!("{betrayals} of {held} receipt(s) show the node dropped or rewrote acknowledged records (see the warnings above)");
        }
    });
    Ok(if betrayals == 0 { std::process::ExitCode::SUCCESS } else { std::process::ExitCode::from(1) })
}

/// `council receipts send-proof FILE`.
pub fn send_proof(node: &Node, file: &Path, json: bool) -> anyhow::Result<()> {
    let bytes = council_files::read_small(file, 4 << 20)?;
    let r = node.post_json("/v1/equivocations", &serde_json::json!({ "record": hex::encode(bytes) }))?;
    print(json, &r, || say!("the node took the proof: {}", r["proof"].as_str().unwrap_or("")));
    Ok(())
}
