//! Every signed record of the protocol, with its canonical encoding.
//!
//! Layouts are written as CBOR arrays; `docs/PROTOCOL.md` lists each one field by field.
//! Each signed body starts with a domain tag (`councilnet/1/<kind>`) and names the council
//! (and the federation, where there is one) it belongs to, so a signature made for one
//! record, council, motion or federation is worthless anywhere else.

use crate::cbor::{Cbor, Decoder, Encoder};
use crate::error::DecodeError;
use crate::hash::Hash;
use crate::keys::{PublicKey, SecretKey, Signature};

/// Domain tags. The `1` is the protocol version.
pub mod tag {
    pub const GENESIS: &str = "councilnet/1/genesis";
    pub const ENTRY: &str = "councilnet/1/entry";
    pub const MOTION: &str = "councilnet/1/motion";
    pub const VOTE: &str = "councilnet/1/vote";
    pub const RANKING: &str = "councilnet/1/ranking";
    pub const PETITION: &str = "councilnet/1/petition";
    pub const DELEGATE_VOTE: &str = "councilnet/1/delegate-vote";
    pub const CHARTER: &str = "councilnet/1/charter";
    pub const JOIN: &str = "councilnet/1/join";
    pub const OPENED: &str = "councilnet/1/opened";
    pub const EQUIVOCATION: &str = "councilnet/1/equivocation";
    pub const EXPORT: &str = "councilnet/1/export";
    pub const EXPORT_END: &str = "councilnet/1/end";
    pub const INVITE: &str = "councilnet/1/invite";
    pub const SESSION: &str = "councilnet/1/session";
    pub const RECEIPT: &str = "councilnet/1/receipt";
    pub const NAME: &str = "councilnet/1/name";
    pub const DEVICE: &str = "councilnet/1/device";
    pub const DEVICE_PROOF: &str = "councilnet/1/device-proof";
}

/// Limits on list lengths and text sizes, enforced while decoding or validating.
pub mod limits {
    pub const MAX_FOUNDERS: usize = 1000;
    pub const MAX_OPTIONS: usize = 32;
    pub const MAX_TEXT: usize = 4096;
    pub const MAX_NAME: usize = 200;
    pub const MAX_LIST: usize = 1000;
    /// The largest single record (one export item) accepted, in bytes.
    pub const MAX_RECORD_BYTES: usize = 1 << 20;
}

/// A council's identity: the hash of its genesis body.
pub type CouncilId = Hash;
/// A federation's identity: the hash of its founding charter.
pub type FederationId = Hash;
/// A motion's identity: the hash of its body.
pub type MotionId = Hash;
/// A member's identity: the key they were admitted with (it survives key rotation).
pub type MemberId = PublicKey;

fn text_limited(d: &mut Decoder<'_>, max: usize) -> Result<String, DecodeError> {
    let at = d.position();
    let t = d.text()?;
    if t.len() > max {
        return Err(DecodeError::TooLong { at, max });
    }
    Ok(t.to_owned())
}

fn text_list(d: &mut Decoder<'_>, max_items: usize, max_len: usize) -> Result<Vec<String>, DecodeError> {
    let n = d.array(max_items)?;
    (0..n).map(|_| text_limited(d, max_len)).collect()
}

fn encode_text_list(e: &mut Encoder, v: &[String]) {
    e.array(v.len());
    for s in v {
        e.text(s);
    }
}

/// Reads `[variant-name, ...fields]`: the head and the name, returns the name.
fn variant<'a>(d: &mut Decoder<'a>, max_len: usize) -> Result<(&'a str, usize, usize), DecodeError> {
    let at = d.position();
    let n = d.array(max_len)?;
    if n == 0 {
        return Err(DecodeError::WrongArity { at, expected: 1, found: 0 });
    }
    let name = d.text()?;
    Ok((name, n, at))
}

fn arity(at: usize, expected: usize, found: usize) -> Result<(), DecodeError> {
    if expected != found {
        return Err(DecodeError::WrongArity { at, expected, found: found as u64 });
    }
    Ok(())
}

fn unknown(at: usize, name: &str) -> DecodeError {
    DecodeError::UnknownVariant { at, found: name.chars().take(64).collect() }
}

// ---------------------------------------------------------------------------------------
// Shares, thresholds and rules

/// A fraction `num/den` with `0 <= num <= den`, `den >= 1`, used for "at least this share".
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Share {
    pub num: u32,
    pub den: u32,
}

impl Share {
    pub const fn new(num: u32, den: u32) -> Self {
        Share { num, den }
    }
    pub fn is_valid(&self) -> bool {
        self.den >= 1 && self.num <= self.den
    }
    /// `part / whole >= num / den`, exactly, in integers.
    pub fn reached(&self, part: u64, whole: u64) -> bool {
        // In 128 bits: a weighted federation tally (§8) can exceed 2^32 parts.
        u128::from(part) * u128::from(self.den) >= u128::from(self.num) * u128::from(whole)
    }
}

impl Cbor for Share {
    fn encode(&self, e: &mut Encoder) {
        e.array(2).u64(self.num.into()).u64(self.den.into());
    }
    fn decode(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        d.array_exact(2)?;
        Ok(Share { num: d.u32()?, den: d.u32()? })
    }
}

/// A share or threshold written by a person could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a share: write N/D with 0 ≤ N ≤ D, D ≥ 1 (e.g. 1/2), or majority, two-thirds, unanimity")]
pub struct ParseShareError(pub String);

impl std::str::FromStr for Share {
    type Err = ParseShareError;
    /// `N/D`, e.g. `1/2`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || ParseShareError(s.to_owned());
        let (n, d) = s.split_once('/').ok_or_else(bad)?;
        let sh = Share::new(n.trim().parse().map_err(|_| bad())?, d.trim().parse().map_err(|_| bad())?);
        sh.is_valid().then_some(sh).ok_or_else(bad)
    }
}

impl std::str::FromStr for Threshold {
    type Err = ParseShareError;
    /// `majority` (more than half), `two-thirds`, `unanimity`, or `N/D` (at least N/D).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s.trim() {
            "majority" => Threshold::SIMPLE_MAJORITY,
            "two-thirds" => Threshold::TWO_THIRDS,
            "unanimity" => Threshold::UNANIMITY,
            other => {
                let sh: Share = other.parse().map_err(|_| ParseShareError(s.to_owned()))?;
                Threshold { num: sh.num, den: sh.den, strict: false }
            }
        })
    }
}

/// "More than" (`strict`) or "at least" a fraction of a whole that must not be empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Threshold {
    pub num: u32,
    pub den: u32,
    pub strict: bool,
}

impl Threshold {
    /// More than half.
    pub const SIMPLE_MAJORITY: Threshold = Threshold { num: 1, den: 2, strict: true };
    /// At least two thirds.
    pub const TWO_THIRDS: Threshold = Threshold { num: 2, den: 3, strict: false };
    /// Everyone.
    pub const UNANIMITY: Threshold = Threshold { num: 1, den: 1, strict: false };

    pub fn is_valid(&self) -> bool {
        self.den >= 1 && self.num <= self.den && !(self.strict && self.num == self.den)
    }
    /// Whether `part` out of `whole` meets the threshold. An empty whole never does.
    pub fn met(&self, part: u64, whole: u64) -> bool {
        if whole == 0 {
            return false;
        }
        let (l, r) = (u128::from(part) * u128::from(self.den), u128::from(self.num) * u128::from(whole));
        if self.strict {
            l > r
        } else {
            l >= r
        }
    }
    /// The smallest `part` of `whole` that meets the threshold (may exceed `whole`).
    pub fn min_part(&self, whole: u64) -> u64 {
        let r = u64::from(self.num) * whole;
        let den = u64::from(self.den);
        let q = r / den;
        let base = if self.strict { q + 1 } else { r.div_ceil(den) };
        base.max(1)
    }
}

impl Cbor for Threshold {
    fn encode(&self, e: &mut Encoder) {
        e.array(3).u64(self.num.into()).u64(self.den.into()).bool(self.strict);
    }
    fn decode(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        d.array_exact(3)?;
        Ok(Threshold { num: d.u32()?, den: d.u32()?, strict: d.bool()? })
    }
}

/// How a motion is decided: a quorum (share of the electorate that must cast a ballot,
/// abstentions included) and a threshold (share of the non-abstaining ballots).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Rule {
    pub quorum: Share,
    pub threshold: Threshold,
}

impl Rule {
    pub fn is_valid(&self) -> bool {
        self.quorum.is_valid() && self.threshold.is_valid()
    }
}

impl Cbor for Rule {
    fn encode(&self, e: &mut Encoder) {
        e.array(2).value(&self.quorum).value(&self.threshold);
    }
    fn decode(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        d.array_exact(2)?;
        Ok(Rule { quorum: d.value()?, threshold: d.value()? })
    }
}

/// Who may open motions.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", content = "members", rename_all = "kebab-case")]
pub enum Openers {
    AnyMember,
    Listed(Vec<MemberId>),
}

impl Cbor for Openers {
    fn encode(&self, e: &mut Encoder) {
        match self {
            Openers::AnyMember => {
                e.array(1).text("any-member");
            }
            Openers::Listed(m) => {
                e.array(2).text("listed").list(m);
            }
        }
    }
    fn decode(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        let (name, n, at) = variant(d, 2)?;
        match name {
            "any-member" => arity(at, 1, n).map(|_| Openers::AnyMember),
            "listed" => {
                arity(at, 2, n)?;
                Ok(Openers::Listed(d.list(limits::MAX_FOUNDERS)?))
            }
            other => Err(unknown(at, other)),
        }
    }
}

/// How members' devices are added: how many keys one member may hold at once, and
/// whether adding one takes a council act rather than the member's own record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct DeviceRules {
    /// At least 1.
    pub limit: u32,
    pub by_act: bool,
}

impl DeviceRules {
    pub const DEFAULT: DeviceRules = DeviceRules { limit: 4, by_act: false };
}

impl Default for DeviceRules {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl Cbor for DeviceRules {
    fn encode(&self, e: &mut Encoder) {
        e.array(2).u64(self.limit.into()).bool(self.by_act);
    }
    fn decode(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        d.array_exact(2)?;
        Ok(DeviceRules { limit: d.u32()?, by_act: d.bool()? })
    }
}

/// A council's standing rules, fixed by its genesis.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CouncilRules {
    /// The rule every council act (a motion with an action) must use.
    pub act_rule: Rule,
    /// The share of the roster whose signatures make a recall petition take effect.
    pub petition: Threshold,
    pub openers: Openers,
    pub devices: DeviceRules,
    /// The rule an amendment of these rules (`amend-rules`) must use, if stricter than
    /// `act_rule`; without it, amendments use `act_rule`.
    pub amend_rule: Option<Rule>,
}

impl CouncilRules {
    pub fn is_valid(&self) -> bool {
        self.act_rule.is_valid()
            && self.petition.is_valid()
            && self.devices.limit >= 1
            && self.amend_rule.is_none_or(|r| r.is_valid())
    }
    /// The rule a council act must use: `amend_rule` (if any) for an amendment of the
    /// rules, `act_rule` for every other act.
    pub fn rule_for(&self, action: &Action) -> Rule {
        match action {
            Action::AmendRules(_) => self.amend_rule.unwrap_or(self.act_rule),
            _ => self.act_rule,
        }
    }
}

impl Default for CouncilRules {
    fn default() -> Self {
        CouncilRules {
            act_rule: Rule { quorum: Share::new(1, 2), threshold: Threshold::SIMPLE_MAJORITY },
            petition: Threshold::SIMPLE_MAJORITY,
            openers: Openers::AnyMember,
            devices: DeviceRules::DEFAULT,
            amend_rule: None,
        }
    }
}

impl Cbor for CouncilRules {
    /// Later rules are further elements, each written only when it (or one after it) is
    /// not the default, so a genesis written before they existed keeps its encoding (and
    /// its council id): three elements; four with device rules; five with an amendment
    /// rule.
    fn encode(&self, e: &mut Encoder) {
        let n = if self.amend_rule.is_some() {
            5
        } else if self.devices != DeviceRules::DEFAULT {
            4
        } else {
            3
        };
        e.array(n).value(&self.act_rule).value(&self.petition).value(&self.openers);
        if n >= 4 {
            e.value(&self.devices);
        }
        if let Some(r) = &self.amend_rule {
            e.value(r);
        }
    }
    fn decode(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        let at = d.position();
        let n = d.array(5)?;
        if n < 3 {
            return Err(DecodeError::WrongArity { at, expected: 3, found: n as u64 });
        }
        let (act_rule, petition, openers) = (d.value()?, d.value()?, d.value()?);
        let devices = if n >= 4 {
            let at = d.position();
            let devices: DeviceRules = d.value()?;
            if n == 4 && devices == DeviceRules::DEFAULT {
                return Err(DecodeError::NonCanonical { at, what: "default device rules are left out" });
            }
            devices
        } else {
            DeviceRules::DEFAULT
        };
        let amend_rule = if n == 5 { Some(d.value()?) } else { None };
        Ok(CouncilRules { act_rule, petition, openers, devices, amend_rule })
    }
}

// ---------------------------------------------------------------------------------------
// Genesis

/// The body of a council's genesis record. Its hash is the council's id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenesisBody {
    pub name: String,
    pub founders: Vec<PublicKey>,
    pub rules: CouncilRules,
    /// The key that signs the council's log entries (replaceable by a council act).
    pub node_key: PublicKey,
    pub created_at: u64,
}

impl Cbor for GenesisBody {
    fn encode(&self, e: &mut Encoder) {
        e.array(6)
            .text(tag::GENESIS)
            .text(&self.name)
            .list(&self.founders)
            .value(&self.rules)
            .value(&self.node_key)
            .u64(self.created_at);
    }
    fn decode(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        d.array_exact(6)?;
        d.tag(tag::GENESIS)?;
        Ok(GenesisBody {
            name: text_limited(d, limits::MAX_NAME)?,
            founders: d.list(limits::MAX_FOUNDERS)?,
            rules: d.value()?,
            node_key: d.value()?,
            created_at: d.u64()?,
        })
    }
}

/// A genesis record: the body and one signature per founder, in founder order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Genesis {
    pub body: GenesisBody,
    pub body_bytes: Vec<u8>,
    pub signatures: Vec<Signature>,
}

impl Genesis {
    pub fn council_id(&self) -> CouncilId {
        Hash::of(&self.body_bytes)
    }

    /// Builds a genesis body ready for the founders to sign.
    pub fn draft(body: GenesisBody) -> Genesis {
        let body_bytes = body.to_cbor();
        Genesis { body, body_bytes, signatures: Vec::new() }
    }
}

impl Cbor for Genesis {
    fn encode(&self, e: &mut Encoder) {
        e.array(2).raw(&self.body_bytes).list(&self.signatures);
    }
    fn decode(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        d.array_exact(2)?;
        let start = d.position();
        let body = GenesisBody::decode(d)?;
        let body_bytes = d.slice_from(start).to_vec();
        Ok(Genesis { body, body_bytes, signatures: d.list(limits::MAX_FOUNDERS)? })
    }
}

// ---------------------------------------------------------------------------------------
// Member-signed records

/// A record signed by one key: `[body, signer, signature]`, where the signature covers
/// the body's canonical bytes. Not yet verified: see [`crate::verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed<T> {
    pub body: T,
    pub body_bytes: Vec<u8>,
    pub signer: PublicKey,
    pub signature: Signature,
}

impl<T: Cbor> Signed<T> {
    pub fn sign(body: T, key: &SecretKey) -> Self {
        let body_bytes = body.to_cbor();
        let signature = key.sign(&body_bytes);
        Signed { body, body_bytes, signer: key.public(), signature }
    }

    /// The id of the record: the hash of its body.
    pub fn id(&self) -> Hash {
        Hash::of(&self.body_bytes)
    }

    /// Checks the signature (PROTOCOL.md §2). Callers normally go through [`crate::verify`].
    pub fn signature_valid(&self) -> bool {
        self.signer.verify(&self.body_bytes, &self.signature)
    }
}

impl<T: Cbor> Cbor for Signed<T> {
    fn encode(&self, e: &mut Encoder) {
        e.array(3).raw(&self.body_bytes).value(&self.signer).value(&self.signature);
    }
    fn decode(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        d.array_exact(3)?;
        let start = d.position();
        let body = T::decode(d)?;
        let body_bytes = d.slice_from(start).to_vec();
        Ok(Signed { body, body_bytes, signer: d.value()?, signature: d.value()? })
    }
}

// A motion is always boxed inside a `Payload`, so the size of the action does not matter.
#[allow(clippy::large_enum_variant)]
/// The form of a motion: a yes/no question (which may carry a council act), a choice
/// between named options, or a ranking of named options (counted by the Schulze method,
/// PROTOCOL.md §7.1). Every motion also has an implicit last option, "abstain".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MotionForm {
    YesNo(Action),
    Choice(Vec<String>),
    Ranked(Vec<String>),
}

impl MotionForm {
    /// The options, without the trailing implicit "abstain".
    pub fn options(&self) -> Vec<String> {
        match self {
            MotionForm::YesNo(_) => vec!["yes".into(), "no".into()],
            MotionForm::Choice(o) | MotionForm::Ranked(o) => o.clone(),
        }
    }
    pub fn option_count(&self) -> u32 {
        match self {
            MotionForm::YesNo(_) => 2,
            MotionForm::Choice(o) | MotionForm::Ranked(o) => o.len() as u32,
        }
    }
    pub fn action(&self) -> Option<&Action> {
        match self {
            MotionForm::YesNo(a) => Some(a),
            MotionForm::Choice(_) | MotionForm::Ranked(_) => None,
        }
    }
    /// Whether members rank the options (a `ranking` ballot) rather than pick one.
    pub fn is_ranked(&self) -> bool {
        matches!(self, MotionForm::Ranked(_))
    }
}

impl Cbor for MotionForm {
    fn encode(&self, e: &mut Encoder) {
        match self {
            MotionForm::YesNo(a) => {
                e.array(2).text("yes-no").value(a);
            }
            MotionForm::Choice(o) => {
                e.array(2).text("choice");
                encode_text_list(e, o);
            }
            MotionForm::Ranked(o) => {
                e.array(2).text("ranked");
                encode_text_list(e, o);
            }
        }
    }
    fn decode(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        let (name, n, at) = variant(d, 2)?;
        arity(at, 2, n)?;
        match name {
            "yes-no" => Ok(MotionForm::YesNo(d.value()?)),
            "choice" => Ok(MotionForm::Choice(text_list(d, limits::MAX_OPTIONS, limits::MAX_NAME)?)),
            "ranked" => Ok(MotionForm::Ranked(text_list(d, limits::MAX_OPTIONS, limits::MAX_NAME)?)),
            other => Err(unknown(at, other)),
        }
    }
}

/// A motion, opened by a member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MotionBody {
    pub council: CouncilId,
    pub title: String,
    pub form: MotionForm,
    pub rule: Rule,
    pub closes_at: u64,
    /// Lets the same question be asked twice.
    pub nonce: u64,
}

impl Cbor for MotionBody {
    fn encode(&self, e: &mut Encoder) {
        e.array(7)
            .text(tag::MOTION)
            .value(&self.council)
            .text(&self.title)
            .value(&self.form)
            .value(&self.rule)
            .u64(self.closes_at)
            .u64(self.nonce);
    }
    fn decode(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        d.array_exact(7)?;
        d.tag(tag::MOTION)?;
        Ok(MotionBody {
            council: d.value()?,
            title: text_limited(d, limits::MAX_TEXT)?,
            form: d.value()?,
            rule: d.value()?,
            closes_at: d.u64()?,
            nonce: d.u64()?,
        })
    }
}

/// A member's ballot. `choice` indexes the motion's options; `option_count` is abstain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoteBody {
    pub council: CouncilId,
    pub motion: MotionId,
    pub choice: u32,
    /// Strictly increases with each ballot the member casts on this motion.
    pub counter: u64,
    /// The member gives up changing this ballot: no later ballot of theirs on the motion
    /// is accepted, and the early close counts it as fixed. Encoded only when true, as a
    /// sixth element, so that a ballot that may still change keeps its five-element form.
    pub is_final: bool,
}

impl Cbor for VoteBody {
    fn encode(&self, e: &mut Encoder) {
        e.array(if self.is_final { 6 } else { 5 });
        e.text(tag::VOTE).value(&self.council).value(&self.motion).u64(self.choice.into()).u64(self.counter);
        if self.is_final {
            e.bool(true);
        }
    }
    fn decode(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        let len = ballot_head(d, tag::VOTE)?;
        let (council, motion, choice, counter) = (d.value()?, d.value()?, d.u32()?, d.u64()?);
        Ok(VoteBody { council, motion, choice, counter, is_final: final_flag(d, len)? })
    }
}

/// A ballot's array head (five elements, or six with the final flag) and its tag.
fn ballot_head(d: &mut Decoder<'_>, tag: &'static str) -> Result<usize, DecodeError> {
    let at = d.position();
    let len = d.array(6)?;
    if len < 5 {
        return Err(DecodeError::WrongArity { at, expected: 5, found: len as u64 });
    }
    d.tag(tag)?;
    Ok(len)
}

/// A ballot's final flag: a sixth element, and then only `true` (a ballot that is not
/// final leaves it out, so that each ballot has one encoding).
fn final_flag(d: &mut Decoder<'_>, len: usize) -> Result<bool, DecodeError> {
    if len < 6 {
        return Ok(false);
    }
    let at = d.position();
    if !d.bool()? {
        return Err(DecodeError::NonCanonical { at, what: "a ballot that is not final omits the flag" });
    }
    Ok(true)
}

/// A member's ranked ballot on a ranked motion: every option once, most preferred first,
/// or no option at all (an abstention). Counters and finality work as for [`VoteBody`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RankingBody {
    pub council: CouncilId,
    pub motion: MotionId,
    pub ranking: Vec<u32>,
    pub counter: u64,
    pub is_final: bool,
}

impl Cbor for RankingBody {
    fn encode(&self, e: &mut Encoder) {
        e.array(if self.is_final { 6 } else { 5 }).text(tag::RANKING).value(&self.council).value(&self.motion);
        encode_parts(e, &self.ranking);
        e.u64(self.counter);
        if self.is_final {
            e.bool(true);
        }
    }
    fn decode(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        let len = ballot_head(d, tag::RANKING)?;
        let (council, motion) = (d.value()?, d.value()?);
        let ranking = decode_parts(d)?;
        let counter = d.u64()?;
        Ok(RankingBody { council, motion, ranking, counter, is_final: final_flag(d, len)? })
    }
}

/// One member's signature on a petition to recall a mandate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PetitionBody {
    pub council: CouncilId,
    pub mandate: MotionId,
}

impl Cbor for PetitionBody {
    fn encode(&self, e: &mut Encoder) {
        e.array(3).text(tag::PETITION).value(&self.council).value(&self.mandate);
    }
    fn decode(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        d.array_exact(3)?;
        d.tag(tag::PETITION)?;
        Ok(PetitionBody { council: d.value()?, mandate: d.value()? })
    }
}

/// A delegate's ballot on a federation motion, cast for their council, or for a member
/// federation whose mandate the delegate holds (PROTOCOL.md §8.1): `council` names the
/// member of the federation the ballot is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DelegateVoteBody {
    pub federation: FederationId,
    pub motion: MotionId,
    pub council: CouncilId,
    pub mandate: MotionId,
    pub choice: u32,
    pub counter: u64,
    /// A split vote: parts per option ([`SPLIT_PARTS`] in all), with `choice` the number
    /// of options. Encoded only when present, as an eighth element.
    pub split: Option<Vec<u32>>,
}

impl Cbor for DelegateVoteBody {
    fn encode(&self, e: &mut Encoder) {
        e.array(if self.split.is_some() { 8 } else { 7 })
            .text(tag::DELEGATE_VOTE)
            .value(&self.federation)
            .value(&self.motion)
            .value(&self.council)
            .value(&self.mandate)
            .u64(self.choice.into())
            .u64(self.counter);
        if let Some(parts) = &self.split {
            encode_parts(e, parts);
        }
    }
    fn decode(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        let at = d.position();
        let n = d.array(8)?;
        if n < 7 {
            return Err(DecodeError::WrongArity { at, expected: 7, found: n as u64 });
        }
        d.tag(tag::DELEGATE_VOTE)?;
        Ok(DelegateVoteBody {
            federation: d.value()?,
            motion: d.value()?,
            council: d.value()?,
            mandate: d.value()?,
            choice: d.u32()?,
            counter: d.u64()?,
            split: if n == 8 { Some(decode_parts(d)?) } else { None },
        })
    }
}

/// A member's invite of another council to a federation this council belongs to. The
/// invite key's secret travels in the invite string, never in the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InviteBody {
    pub council: CouncilId,
    pub federation: FederationId,
    pub invite_key: PublicKey,
    pub max_uses: u32,
    pub expires_at: u64,
}

impl Cbor for InviteBody {
    fn encode(&self, e: &mut Encoder) {
        e.array(6)
            .text(tag::INVITE)
            .value(&self.council)
            .value(&self.federation)
            .value(&self.invite_key)
            .u64(self.max_uses.into())
            .u64(self.expires_at);
    }
    fn decode(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        d.array_exact(6)?;
        d.tag(tag::INVITE)?;
        Ok(InviteBody {
            council: d.value()?,
            federation: d.value()?,
            invite_key: d.value()?,
            max_uses: d.u32()?,
            expires_at: d.u64()?,
        })
    }
}

/// The name a member goes by in their council, signed by the member: the latest one
/// logged counts. Names are for people; the member id stays the member's identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameBody {
    pub council: CouncilId,
    pub name: String,
}

impl Cbor for NameBody {
    fn encode(&self, e: &mut Encoder) {
        e.array(3).text(tag::NAME).value(&self.council).text(&self.name);
    }
    fn decode(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        d.array_exact(3)?;
        d.tag(tag::NAME)?;
        Ok(NameBody { council: d.value()?, name: text_limited(d, limits::MAX_NAME)? })
    }
}

/// A member adds a device key or removes one, signed by one of their current device keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceBody {
    pub council: CouncilId,
    /// The member's id (the key they were admitted with).
    pub member: MemberId,
    pub change: DeviceChange,
}

/// A change to a member's device keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceChange {
    /// `proof` is the new key's signature over [`DeviceProof`] for this council and
    /// member: whoever adds a key shows they hold it, so nobody can take up a key that
    /// is not theirs (one named in a pending `add-member`, say).
    Add {
        device: PublicKey,
        proof: Signature,
    },
    Remove {
        device: PublicKey,
    },
}

impl DeviceChange {
    pub fn device(&self) -> &PublicKey {
        match self {
            DeviceChange::Add { device, .. } | DeviceChange::Remove { device } => device,
        }
    }
}

impl Cbor for DeviceChange {
    fn encode(&self, e: &mut Encoder) {
        match self {
            DeviceChange::Add { device, proof } => e.array(3).text("add").value(device).value(proof),
            DeviceChange::Remove { device } => e.array(2).text("remove").value(device),
        };
    }
    fn decode(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        let (name, n, at) = variant(d, 3)?;
        match name {
            "add" => {
                arity(at, 3, n)?;
                Ok(DeviceChange::Add { device: d.value()?, proof: d.value()? })
            }
            "remove" => {
                arity(at, 2, n)?;
                Ok(DeviceChange::Remove { device: d.value()? })
            }
            other => Err(unknown(at, other)),
        }
    }
}

impl Cbor for DeviceBody {
    fn encode(&self, e: &mut Encoder) {
        e.array(4).text(tag::DEVICE).value(&self.council).value(&self.member).value(&self.change);
    }
    fn decode(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        d.array_exact(4)?;
        d.tag(tag::DEVICE)?;
        Ok(DeviceBody { council: d.value()?, member: d.value()?, change: d.value()? })
    }
}

/// What a new device key signs to show it is held: `[tag, council, member]`. Never
/// logged on its own; its signature travels in the `add` change or `add-device` act.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceProof {
    pub council: CouncilId,
    pub member: MemberId,
}

impl DeviceProof {
    /// The new key's signature over this statement.
    pub fn sign(&self, device: &SecretKey) -> Signature {
        device.sign(&self.to_cbor())
    }
    /// Whether `proof` is `device`'s valid signature over this statement (§2).
    pub fn holds(&self, device: &PublicKey, proof: &Signature) -> bool {
        device.verify(&self.to_cbor(), proof)
    }
}

impl Cbor for DeviceProof {
    fn encode(&self, e: &mut Encoder) {
        e.array(3).text(tag::DEVICE_PROOF).value(&self.council).value(&self.member);
    }
    fn decode(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        d.array_exact(3)?;
        d.tag(tag::DEVICE_PROOF)?;
        Ok(DeviceProof { council: d.value()?, member: d.value()? })
    }
}

/// What a member signs to open a session on their council's member endpoint: a fresh
/// challenge from the node. Never logged; the tag keeps the signature from meaning
/// anything else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionBody {
    pub council: CouncilId,
    pub challenge: Hash,
}

impl Cbor for SessionBody {
    fn encode(&self, e: &mut Encoder) {
        e.array(3).text(tag::SESSION).value(&self.council).value(&self.challenge);
    }
    fn decode(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        d.array_exact(3)?;
        d.tag(tag::SESSION)?;
        Ok(SessionBody { council: d.value()?, challenge: d.value()? })
    }
}

// ---------------------------------------------------------------------------------------
// Council acts

/// What a mandate lets the delegate act on.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", content = "matters", rename_all = "kebab-case")]
pub enum Scope {
    /// Every matter of the federation.
    All,
    /// Only federation motions whose matter is one of these.
    Matters(Vec<String>),
}

impl Scope {
    pub fn covers(&self, matter: &str) -> bool {
        match self {
            Scope::All => true,
            Scope::Matters(m) => m.iter().any(|x| x == matter),
        }
    }
}

impl Cbor for Scope {
    fn encode(&self, e: &mut Encoder) {
        match self {
            Scope::All => {
                e.array(1).text("all");
            }
            Scope::Matters(m) => {
                e.array(2).text("matters");
                encode_text_list(e, m);
            }
        }
    }
    fn decode(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        let (name, n, at) = variant(d, 2)?;
        match name {
            "all" => arity(at, 1, n).map(|_| Scope::All),
            "matters" => {
                arity(at, 2, n)?;
                Ok(Scope::Matters(text_list(d, limits::MAX_LIST, limits::MAX_NAME)?))
            }
            other => Err(unknown(at, other)),
        }
    }
}

/// A split vote divides one vote (of one council's weight) into this many parts.
pub const SPLIT_PARTS: u32 = 10_000;

/// An instruction for one matter.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Instruction {
    /// The delegate must cast this choice (an option index; the option count is abstain).
    Vote(u32),
    /// The delegate uses their own judgement.
    Judgement,
    /// The delegate casts the council's split, not a single choice.
    Split(SplitSource),
}

/// Where a split mandate's split comes from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SplitSource {
    /// The tally of this council's own (closed) motion, option by option.
    OfMotion(MotionId),
    /// A stated split: parts per option of the federation motion, [`SPLIT_PARTS`] in all.
    Stated(Vec<u32>),
}

impl Cbor for Instruction {
    fn encode(&self, e: &mut Encoder) {
        match self {
            Instruction::Vote(c) => {
                e.array(2).text("vote").u64((*c).into());
            }
            Instruction::Judgement => {
                e.array(1).text("judgement");
            }
            Instruction::Split(SplitSource::OfMotion(m)) => {
                e.array(2).text("split-of").value(m);
            }
            Instruction::Split(SplitSource::Stated(parts)) => {
                e.array(2).text("split");
                encode_parts(e, parts);
            }
        }
    }
    fn decode(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        let (name, n, at) = variant(d, 2)?;
        match name {
            "vote" => {
                arity(at, 2, n)?;
                Ok(Instruction::Vote(d.u32()?))
            }
            "judgement" => arity(at, 1, n).map(|_| Instruction::Judgement),
            "split-of" => {
                arity(at, 2, n)?;
                Ok(Instruction::Split(SplitSource::OfMotion(d.value()?)))
            }
            "split" => {
                arity(at, 2, n)?;
                Ok(Instruction::Split(SplitSource::Stated(decode_parts(d)?)))
            }
            other => Err(unknown(at, other)),
        }
    }
}

fn encode_parts(e: &mut Encoder, parts: &[u32]) {
    e.array(parts.len());
    for p in parts {
        e.u64((*p).into());
    }
}

fn decode_parts(d: &mut Decoder<'_>) -> Result<Vec<u32>, DecodeError> {
    let n = d.array(limits::MAX_OPTIONS)?;
    (0..n).map(|_| d.u32()).collect()
}

/// Whether `parts` is a split of one vote: [`SPLIT_PARTS`] in all.
pub fn is_split(parts: &[u32]) -> bool {
    parts.iter().map(|&p| u64::from(p)).sum::<u64>() == u64::from(SPLIT_PARTS)
}

/// The split of a tally (ballots per option, abstentions left out): each option's share of
/// [`SPLIT_PARTS`], rounded down, then the parts left over one each to the options with
/// the largest remainders (the lower option first on a tie). `None` without a ballot.
pub fn split_of(counts: &[u64]) -> Option<Vec<u32>> {
    let total: u128 = counts.iter().map(|&c| u128::from(c)).sum();
    if total == 0 {
        return None;
    }
    let whole = u128::from(SPLIT_PARTS);
    let mut parts: Vec<u32> = counts.iter().map(|&c| (u128::from(c) * whole / total) as u32).collect();
    let mut left = SPLIT_PARTS - parts.iter().sum::<u32>();
    let mut order: Vec<usize> = (0..counts.len()).collect();
    // Largest remainder first; the lower option first among equals (a stable sort).
    order.sort_by_key(|&i| std::cmp::Reverse(u128::from(counts[i]) * whole % total));
    for i in order {
        if left == 0 {
            break;
        }
        parts[i] += 1;
        left -= 1;
    }
    Some(parts)
}

/// An imperative mandate for a delegate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mandate {
    pub delegate: MemberId,
    pub federation: FederationId,
    pub scope: Scope,
    /// `(matter, instruction)`; a matter appears at most once.
    pub instructions: Vec<(String, Instruction)>,
    pub expires_at: u64,
}

impl Mandate {
    pub fn instruction_for(&self, matter: &str) -> Instruction {
        self.instructions.iter().find(|(m, _)| m == matter).map(|(_, i)| i.clone()).unwrap_or(Instruction::Judgement)
    }
}

impl Cbor for Mandate {
    fn encode(&self, e: &mut Encoder) {
        e.array(5).value(&self.delegate).value(&self.federation).value(&self.scope);
        e.array(self.instructions.len());
        for (m, i) in &self.instructions {
            e.array(2).text(m).value(i);
        }
        e.u64(self.expires_at);
    }
    fn decode(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        d.array_exact(5)?;
        let delegate = d.value()?;
        let federation = d.value()?;
        let scope = d.value()?;
        let n = d.array(limits::MAX_LIST)?;
        let mut instructions = Vec::with_capacity(n.min(64));
        for _ in 0..n {
            d.array_exact(2)?;
            instructions.push((text_limited(d, limits::MAX_NAME)?, d.value()?));
        }
        Ok(Mandate { delegate, federation, scope, instructions, expires_at: d.u64()? })
    }
}

/// A federation's standing rules, fixed by its charter.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FederationRules {
    /// The share of member councils whose countersignature admits a new council.
    pub admission: Threshold,
    /// How federation motions are decided (one vote per council).
    pub motion_rule: Rule,
    /// How much each council's vote weighs in a federation motion's tally.
    pub weighting: Weighting,
}

/// How much each council's vote weighs in the tally of a federation motion. The quorum
/// always counts councils.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Weighting {
    /// One vote per council.
    #[default]
    PerCouncil,
    /// A council's vote weighs its roster size at the entry that logged it.
    ByMembers,
}

impl Cbor for FederationRules {
    /// The weighting is a third element, `"by-members"`, only when it is not one vote per
    /// council, so older charters keep their encoding (and their federation id).
    fn encode(&self, e: &mut Encoder) {
        let by_members = self.weighting == Weighting::ByMembers;
        e.array(if by_members { 3 } else { 2 }).value(&self.admission).value(&self.motion_rule);
        if by_members {
            e.text("by-members");
        }
    }
    fn decode(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        let at = d.position();
        let n = d.array(3)?;
        if n < 2 {
            return Err(DecodeError::WrongArity { at, expected: 2, found: n as u64 });
        }
        let (admission, motion_rule) = (d.value()?, d.value()?);
        let weighting = if n == 3 {
            d.tag("by-members")?;
            Weighting::ByMembers
        } else {
            Weighting::PerCouncil
        };
        Ok(FederationRules { admission, motion_rule, weighting })
    }
}

/// A federation's charter. The founding charter's hash is the federation's id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Charter {
    pub name: String,
    pub principles: Vec<String>,
    pub rules: FederationRules,
    /// The founding councils (at least two, no repeats). Each signs by council act.
    pub founders: Vec<CouncilId>,
    pub created_at: u64,
}

impl Charter {
    pub fn id(&self) -> FederationId {
        Hash::of(&self.to_cbor())
    }
}

impl Cbor for Charter {
    fn encode(&self, e: &mut Encoder) {
        e.array(6).text(tag::CHARTER).text(&self.name);
        encode_text_list(e, &self.principles);
        e.value(&self.rules).list(&self.founders).u64(self.created_at);
    }
    fn decode(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        d.array_exact(6)?;
        d.tag(tag::CHARTER)?;
        Ok(Charter {
            name: text_limited(d, limits::MAX_NAME)?,
            principles: text_list(d, limits::MAX_LIST, limits::MAX_TEXT)?,
            rules: d.value()?,
            founders: d.list(limits::MAX_LIST)?,
            created_at: d.u64()?,
        })
    }
}

/// The statement an invite key signs to let one council join one federation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinStatement {
    pub federation: FederationId,
    pub council: CouncilId,
}

impl Cbor for JoinStatement {
    fn encode(&self, e: &mut Encoder) {
        e.array(3).text(tag::JOIN).value(&self.federation).value(&self.council);
    }
    fn decode(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        d.array_exact(3)?;
        d.tag(tag::JOIN)?;
        Ok(JoinStatement { federation: d.value()?, council: d.value()? })
    }
}

/// Proof that a joining council holds an invite key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InviteProof {
    /// The council whose log holds the invite.
    pub issuer: CouncilId,
    pub invite_key: PublicKey,
    /// The invite key's signature over the [`JoinStatement`].
    pub signature: Signature,
}

impl Cbor for InviteProof {
    fn encode(&self, e: &mut Encoder) {
        e.array(3).value(&self.issuer).value(&self.invite_key).value(&self.signature);
    }
    fn decode(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        d.array_exact(3)?;
        Ok(InviteProof { issuer: d.value()?, invite_key: d.value()?, signature: d.value()? })
    }
}

/// A federation motion, opened by a member (by council act, or by an act of a member
/// federation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FederationMotion {
    pub federation: FederationId,
    /// The matter (topic) it belongs to, which mandates' scopes and instructions name.
    pub matter: String,
    pub title: String,
    pub options: Vec<String>,
    pub closes_at: u64,
    /// An act of the federation as one body, done if the motion passes (§8.1): then its
    /// options are exactly `yes` and `no`. Encoded only when present, as a sixth element.
    pub act: Option<Box<FederationAct>>,
}

/// How many federation motions may nest in one: a motion of `F` whose act opens a motion
/// in `H`, whose act opens one in `J`, whose act opens one in `K`. Four is more than any
/// federation of federations needs, and the limit keeps decoding's recursion bounded.
pub const MAX_FEDERATION_NESTING: usize = 4;

impl FederationMotion {
    /// Decodes a federation motion nested `depth` acts deep (0 for one a council act opens).
    fn decode_nested(d: &mut Decoder<'_>, depth: usize) -> Result<Self, DecodeError> {
        let at = d.position();
        if depth >= MAX_FEDERATION_NESTING {
            return Err(DecodeError::TooDeep { at });
        }
        let n = d.array(6)?;
        if n < 5 {
            return Err(DecodeError::WrongArity { at, expected: 5, found: n as u64 });
        }
        Ok(FederationMotion {
            federation: d.value()?,
            matter: text_limited(d, limits::MAX_NAME)?,
            title: text_limited(d, limits::MAX_TEXT)?,
            options: text_list(d, limits::MAX_OPTIONS, limits::MAX_NAME)?,
            closes_at: d.u64()?,
            act: if n == 6 { Some(Box::new(FederationAct::decode_nested(d, depth + 1)?)) } else { None },
        })
    }

    /// The id of the federation motion that a passed act opens in `federation`, where the
    /// federation motion `carrier` (of the federation below) carried it (PROTOCOL.md §8.1):
    /// `SHA-256(["councilnet/1/opened", carrier, federation])`. A motion a council opens has
    /// the id of the council motion that opened it.
    pub fn opened_by_act(carrier: MotionId, federation: FederationId) -> MotionId {
        let mut e = Encoder::default();
        e.array(3).text(tag::OPENED).value(&carrier).value(&federation);
        Hash::of(&e.into_bytes())
    }

    /// The federation motions nested in this one's act, this one first: `self`, the
    /// motion its act opens in a higher federation, the one that one's act opens, ….
    pub fn chain(&self) -> impl Iterator<Item = &FederationMotion> {
        std::iter::successors(Some(self), |m| match m.act.as_deref() {
            Some(FederationAct::OpenMotion(inner)) => Some(inner),
            _ => None,
        })
    }
}

impl Cbor for FederationMotion {
    fn encode(&self, e: &mut Encoder) {
        e.array(if self.act.is_some() { 6 } else { 5 }).value(&self.federation).text(&self.matter).text(&self.title);
        encode_text_list(e, &self.options);
        e.u64(self.closes_at);
        if let Some(act) = &self.act {
            e.value(act.as_ref());
        }
    }
    fn decode(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        Self::decode_nested(d, 0)
    }
}

/// What a federation does as one body, by a passed federation motion with this act
/// (PROTOCOL.md §8.1): it takes part in a higher federation as one member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FederationAct {
    /// Signs a higher federation's charter: as a founder, or joining with an invite. It
    /// takes effect once the federation's councils ratify it.
    SignCharter { charter: Charter, invite: Option<InviteProof> },
    /// Countersigns the admission of `member` (a council or a federation) to `federation`.
    Admit { federation: FederationId, member: Hash },
    /// Leaves a higher federation.
    Leave(FederationId),
    /// Gives a delegate, a member of `council` (one of this federation's councils), an
    /// imperative mandate in a higher federation.
    Mandate { council: CouncilId, mandate: Mandate },
    /// Recalls the mandate that the federation motion `0` issued.
    Recall(MotionId),
    /// Opens a motion in a higher federation.
    OpenMotion(FederationMotion),
}

impl FederationAct {
    /// Every value [`FederationAct::kind`] can take.
    pub const KINDS: [&'static str; 6] = ["sign-charter", "admit", "leave", "mandate", "recall", "federation-motion"];

    pub fn kind(&self) -> &'static str {
        match self {
            FederationAct::SignCharter { .. } => "sign-charter",
            FederationAct::Admit { .. } => "admit",
            FederationAct::Leave(_) => "leave",
            FederationAct::Mandate { .. } => "mandate",
            FederationAct::Recall(_) => "recall",
            FederationAct::OpenMotion(_) => "federation-motion",
        }
    }

    /// The higher federation the act is done in, where it names one (a recall names only
    /// the mandate; a charter is identified by its hash).
    pub fn target(&self) -> Option<FederationId> {
        match self {
            FederationAct::SignCharter { charter, .. } => Some(charter.id()),
            FederationAct::Admit { federation, .. } | FederationAct::Leave(federation) => Some(*federation),
            FederationAct::Mandate { mandate, .. } => Some(mandate.federation),
            FederationAct::OpenMotion(m) => Some(m.federation),
            FederationAct::Recall(_) => None,
        }
    }

    fn decode_nested(d: &mut Decoder<'_>, depth: usize) -> Result<Self, DecodeError> {
        let (name, n, at) = variant(d, 3)?;
        Ok(match name {
            "sign-charter" => {
                arity(at, 3, n)?;
                FederationAct::SignCharter { charter: d.value()?, invite: d.option()? }
            }
            "admit" => {
                arity(at, 3, n)?;
                FederationAct::Admit { federation: d.value()?, member: d.value()? }
            }
            "leave" => {
                arity(at, 2, n)?;
                FederationAct::Leave(d.value()?)
            }
            "mandate" => {
                arity(at, 3, n)?;
                FederationAct::Mandate { council: d.value()?, mandate: d.value()? }
            }
            "recall" => {
                arity(at, 2, n)?;
                FederationAct::Recall(d.value()?)
            }
            "federation-motion" => {
                arity(at, 2, n)?;
                FederationAct::OpenMotion(FederationMotion::decode_nested(d, depth)?)
            }
            other => return Err(unknown(at, other)),
        })
    }
}

impl Cbor for FederationAct {
    fn encode(&self, e: &mut Encoder) {
        match self {
            FederationAct::SignCharter { charter, invite } => {
                e.array(3).text("sign-charter").value(charter).option(invite);
            }
            FederationAct::Admit { federation, member } => {
                e.array(3).text("admit").value(federation).value(member);
            }
            FederationAct::Leave(f) => {
                e.array(2).text("leave").value(f);
            }
            FederationAct::Mandate { council, mandate } => {
                e.array(3).text("mandate").value(council).value(mandate);
            }
            FederationAct::Recall(m) => {
                e.array(2).text("recall").value(m);
            }
            FederationAct::OpenMotion(m) => {
                e.array(2).text("federation-motion").value(m);
            }
        }
    }
    fn decode(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        Self::decode_nested(d, 1)
    }
}

/// A council act: what a passed yes/no motion does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// A resolution with no effect on the records.
    Resolution,
    AddMember(PublicKey),
    RemoveMember(MemberId),
    RotateKey {
        member: MemberId,
        new_key: PublicKey,
    },
    /// Adds a device key to a member, where the council's rules make that an act.
    /// `proof` is as in [`DeviceChange::Add`].
    AddDevice {
        member: MemberId,
        device: PublicKey,
        proof: Signature,
    },
    SetNodeKey(PublicKey),
    Mandate(Mandate),
    Recall(MotionId),
    SignCharter {
        charter: Charter,
        invite: Option<InviteProof>,
    },
    Admit {
        federation: FederationId,
        council: CouncilId,
    },
    Leave(FederationId),
    OpenFederationMotion(FederationMotion),
    Ratify {
        federation: FederationId,
        motion: MotionId,
        accept: bool,
    },
    /// Replaces the council's rules from this act on.
    AmendRules(CouncilRules),
}

impl Action {
    /// Every value [`Action::kind`] can take.
    pub const KINDS: [&'static str; 14] = [
        "resolution",
        "add-member",
        "remove-member",
        "rotate-key",
        "add-device",
        "set-node-key",
        "mandate",
        "recall",
        "sign-charter",
        "admit",
        "leave",
        "federation-motion",
        "ratify",
        "amend-rules",
    ];

    pub fn kind(&self) -> &'static str {
        match self {
            Action::Resolution => "resolution",
            Action::AddMember(_) => "add-member",
            Action::RemoveMember(_) => "remove-member",
            Action::RotateKey { .. } => "rotate-key",
            Action::AddDevice { .. } => "add-device",
            Action::SetNodeKey(_) => "set-node-key",
            Action::Mandate(_) => "mandate",
            Action::Recall(_) => "recall",
            Action::SignCharter { .. } => "sign-charter",
            Action::Admit { .. } => "admit",
            Action::Leave(_) => "leave",
            Action::OpenFederationMotion(_) => "federation-motion",
            Action::Ratify { .. } => "ratify",
            Action::AmendRules(_) => "amend-rules",
        }
    }
}

impl Cbor for Action {
    fn encode(&self, e: &mut Encoder) {
        match self {
            Action::Resolution => {
                e.array(1).text("resolution");
            }
            Action::AddMember(k) => {
                e.array(2).text("add-member").value(k);
            }
            Action::RemoveMember(m) => {
                e.array(2).text("remove-member").value(m);
            }
            Action::RotateKey { member, new_key } => {
                e.array(3).text("rotate-key").value(member).value(new_key);
            }
            Action::AddDevice { member, device, proof } => {
                e.array(4).text("add-device").value(member).value(device).value(proof);
            }
            Action::SetNodeKey(k) => {
                e.array(2).text("set-node-key").value(k);
            }
            Action::Mandate(m) => {
                e.array(2).text("mandate").value(m);
            }
            Action::Recall(m) => {
                e.array(2).text("recall").value(m);
            }
            Action::SignCharter { charter, invite } => {
                e.array(3).text("sign-charter").value(charter).option(invite);
            }
            Action::Admit { federation, council } => {
                e.array(3).text("admit").value(federation).value(council);
            }
            Action::Leave(f) => {
                e.array(2).text("leave").value(f);
            }
            Action::OpenFederationMotion(m) => {
                e.array(2).text("federation-motion").value(m);
            }
            Action::Ratify { federation, motion, accept } => {
                e.array(4).text("ratify").value(federation).value(motion).bool(*accept);
            }
            Action::AmendRules(r) => {
                e.array(2).text("amend-rules").value(r);
            }
        }
    }
    fn decode(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        let (name, n, at) = variant(d, 4)?;
        let a = match name {
            "resolution" => {
                arity(at, 1, n)?;
                Action::Resolution
            }
            "add-member" => {
                arity(at, 2, n)?;
                Action::AddMember(d.value()?)
            }
            "remove-member" => {
                arity(at, 2, n)?;
                Action::RemoveMember(d.value()?)
            }
            "rotate-key" => {
                arity(at, 3, n)?;
                Action::RotateKey { member: d.value()?, new_key: d.value()? }
            }
            "add-device" => {
                arity(at, 4, n)?;
                Action::AddDevice { member: d.value()?, device: d.value()?, proof: d.value()? }
            }
            "set-node-key" => {
                arity(at, 2, n)?;
                Action::SetNodeKey(d.value()?)
            }
            "mandate" => {
                arity(at, 2, n)?;
                Action::Mandate(d.value()?)
            }
            "recall" => {
                arity(at, 2, n)?;
                Action::Recall(d.value()?)
            }
            "sign-charter" => {
                arity(at, 3, n)?;
                Action::SignCharter { charter: d.value()?, invite: d.option()? }
            }
            "admit" => {
                arity(at, 3, n)?;
                Action::Admit { federation: d.value()?, council: d.value()? }
            }
            "leave" => {
                arity(at, 2, n)?;
                Action::Leave(d.value()?)
            }
            "federation-motion" => {
                arity(at, 2, n)?;
                Action::OpenFederationMotion(d.value()?)
            }
            "ratify" => {
                arity(at, 4, n)?;
                Action::Ratify { federation: d.value()?, motion: d.value()?, accept: d.bool()? }
            }
            "amend-rules" => {
                arity(at, 2, n)?;
                Action::AmendRules(d.value()?)
            }
            other => return Err(unknown(at, other)),
        };
        Ok(a)
    }
}

// ---------------------------------------------------------------------------------------
// Outcomes and the council log

/// How a motion ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "result", content = "option", rename_all = "kebab-case")]
pub enum Outcome {
    /// A yes/no motion passed.
    Passed,
    /// A yes/no motion did not reach its threshold.
    Rejected,
    /// A choice motion chose this option.
    Chosen(u32),
    /// A choice motion had no option that was alone at the top and met the threshold.
    NoDecision,
    /// Too few ballots.
    NoQuorum,
}

impl Cbor for Outcome {
    fn encode(&self, e: &mut Encoder) {
        match self {
            Outcome::Passed => e.array(1).text("passed"),
            Outcome::Rejected => e.array(1).text("rejected"),
            Outcome::Chosen(i) => e.array(2).text("chosen").u64((*i).into()),
            Outcome::NoDecision => e.array(1).text("no-decision"),
            Outcome::NoQuorum => e.array(1).text("no-quorum"),
        };
    }
    fn decode(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        let (name, n, at) = variant(d, 2)?;
        let o = match name {
            "passed" => Outcome::Passed,
            "rejected" => Outcome::Rejected,
            "chosen" => {
                arity(at, 2, n)?;
                return Ok(Outcome::Chosen(d.u32()?));
            }
            "no-decision" => Outcome::NoDecision,
            "no-quorum" => Outcome::NoQuorum,
            other => return Err(unknown(at, other)),
        };
        arity(at, 1, n)?;
        Ok(o)
    }
}

/// What a log entry records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// Boxed: motions are rare and large, ballots are many and small.
    Motion(Box<Signed<MotionBody>>),
    Vote(Signed<VoteBody>),
    /// The node closes a motion, stating the outcome (checked against the tally).
    Close {
        motion: MotionId,
        outcome: Outcome,
    },
    Petition(Signed<PetitionBody>),
    DelegateVote(Signed<DelegateVoteBody>),
    /// A member's invite to a federation this council belongs to.
    Invite(Signed<InviteBody>),
    /// The name a member goes by.
    Name(Signed<NameBody>),
    /// A member adds or removes one of their device keys. Boxed: rare, and large.
    Device(Box<Signed<DeviceBody>>),
    /// A member's ranked ballot on a ranked motion.
    Ranking(Box<Signed<RankingBody>>),
}

impl Payload {
    pub fn kind(&self) -> &'static str {
        match self {
            Payload::Motion(_) => "motion",
            Payload::Vote(_) => "vote",
            Payload::Close { .. } => "close",
            Payload::Petition(_) => "petition",
            Payload::DelegateVote(_) => "delegate-vote",
            Payload::Invite(_) => "invite",
            Payload::Name(_) => "name",
            Payload::Device(_) => "device",
            Payload::Ranking(_) => "ranking",
        }
    }
}

impl Cbor for Payload {
    fn encode(&self, e: &mut Encoder) {
        match self {
            Payload::Motion(m) => {
                e.array(2).text("motion").value(m.as_ref());
            }
            Payload::Vote(v) => {
                e.array(2).text("vote").value(v);
            }
            Payload::Close { motion, outcome } => {
                e.array(3).text("close").value(motion).value(outcome);
            }
            Payload::Petition(p) => {
                e.array(2).text("petition").value(p);
            }
            Payload::DelegateVote(v) => {
                e.array(2).text("delegate-vote").value(v);
            }
            Payload::Invite(i) => {
                e.array(2).text("invite").value(i);
            }
            Payload::Name(n) => {
                e.array(2).text("name").value(n);
            }
            Payload::Device(v) => {
                e.array(2).text("device").value(v.as_ref());
            }
            Payload::Ranking(r) => {
                e.array(2).text("ranking").value(r.as_ref());
            }
        }
    }
    fn decode(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        let (name, n, at) = variant(d, 3)?;
        let p = match name {
            "motion" => {
                arity(at, 2, n)?;
                Payload::Motion(Box::new(d.value()?))
            }
            "vote" => {
                arity(at, 2, n)?;
                Payload::Vote(d.value()?)
            }
            "close" => {
                arity(at, 3, n)?;
                Payload::Close { motion: d.value()?, outcome: d.value()? }
            }
            "petition" => {
                arity(at, 2, n)?;
                Payload::Petition(d.value()?)
            }
            "delegate-vote" => {
                arity(at, 2, n)?;
                Payload::DelegateVote(d.value()?)
            }
            "invite" => {
                arity(at, 2, n)?;
                Payload::Invite(d.value()?)
            }
            "name" => {
                arity(at, 2, n)?;
                Payload::Name(d.value()?)
            }
            "device" => {
                arity(at, 2, n)?;
                Payload::Device(Box::new(d.value()?))
            }
            "ranking" => {
                arity(at, 2, n)?;
                Payload::Ranking(Box::new(d.value()?))
            }
            other => return Err(unknown(at, other)),
        };
        Ok(p)
    }
}

/// The body of one entry of a council's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryBody {
    pub council: CouncilId,
    /// 1 for the first entry after the genesis.
    pub seq: u64,
    /// The id of the previous entry, or the council id for `seq == 1`.
    pub prev: Hash,
    /// Seconds since the Unix epoch, as the council's node saw it. Never decreases.
    pub time: u64,
    pub payload: Payload,
}

impl Cbor for EntryBody {
    fn encode(&self, e: &mut Encoder) {
        e.array(6)
            .text(tag::ENTRY)
            .value(&self.council)
            .u64(self.seq)
            .value(&self.prev)
            .u64(self.time)
            .value(&self.payload);
    }
    fn decode(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        d.array_exact(6)?;
        d.tag(tag::ENTRY)?;
        Ok(EntryBody { council: d.value()?, seq: d.u64()?, prev: d.value()?, time: d.u64()?, payload: d.value()? })
    }
}

/// A log entry, signed by the council's node key.
pub type Entry = Signed<EntryBody>;

/// Two different entries at the same place in one council's log, both signed by the same
/// key: proof that the key's holder forked the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EquivocationProof {
    pub a: Entry,
    pub b: Entry,
}

impl Cbor for EquivocationProof {
    fn encode(&self, e: &mut Encoder) {
        e.array(3).text(tag::EQUIVOCATION).value(&self.a).value(&self.b);
    }
    fn decode(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        d.array_exact(3)?;
        d.tag(tag::EQUIVOCATION)?;
        Ok(EquivocationProof { a: d.value()?, b: d.value()? })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_and_thresholds_read_as_people_write_them() {
        assert_eq!("1/2".parse::<Share>(), Ok(Share::new(1, 2)));
        assert_eq!(" 2 / 3 ".parse::<Share>(), Ok(Share::new(2, 3)));
        assert!("3/2".parse::<Share>().is_err());
        assert!("1/0".parse::<Share>().is_err());
        assert!("half".parse::<Share>().is_err());
        assert_eq!("majority".parse::<Threshold>(), Ok(Threshold::SIMPLE_MAJORITY));
        assert_eq!("two-thirds".parse::<Threshold>(), Ok(Threshold::TWO_THIRDS));
        assert_eq!("unanimity".parse::<Threshold>(), Ok(Threshold::UNANIMITY));
        assert_eq!("3/4".parse::<Threshold>(), Ok(Threshold { num: 3, den: 4, strict: false }));
        let e = "most".parse::<Threshold>().unwrap_err().to_string();
        assert!(e.contains("majority, two-thirds, unanimity"), "{e}");
    }
}
