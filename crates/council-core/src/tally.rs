//! The tally: a pure function of the counted ballots and the rule.
//!
//! Ballots are counted per option, with abstentions as the last slot. The same
//! functions decide council motions (one ballot per member) and federation motions
//! (one ballot per council). Ranked motions are counted by the Schulze method.

use crate::hash::Hash;
use crate::records::{Outcome, Rule, Threshold};

/// Whether a motion is a yes/no question or a choice between options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// Option 0 is "yes", option 1 is "no".
    YesNo,
    Choice,
    /// Members rank every option; see [`ranked_outcome`].
    Ranked,
}

/// The only threshold a ranked motion may carry: the Schulze method decides, and the
/// rule's threshold says so by being a simple majority (PROTOCOL.md §7.1).
pub const RANKED_THRESHOLD: Threshold = Threshold::SIMPLE_MAJORITY;

/// Counts of the latest ballots: `counts[i]` for option `i`, with the last slot for
/// abstentions. `electorate` is how many may cast a ballot at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counts {
    pub counts: Vec<u64>,
    pub electorate: u64,
}

impl Counts {
    pub fn new(options: u32, electorate: u64) -> Self {
        Counts { counts: vec![0; options as usize + 1], electorate }
    }
    pub fn options(&self) -> usize {
        self.counts.len() - 1
    }
    pub fn abstain(&self) -> u64 {
        self.counts[self.options()]
    }
    pub fn cast(&self) -> u64 {
        self.counts.iter().sum()
    }
    /// Ballots that are not abstentions.
    pub fn decisive(&self) -> u64 {
        self.cast() - self.abstain()
    }
}

/// The outcome once the motion closes with these ballots.
pub fn outcome(form: Form, rule: &Rule, c: &Counts) -> Outcome {
    if !rule.quorum.reached(c.cast(), c.electorate) {
        return Outcome::NoQuorum;
    }
    let decisive = c.decisive();
    match form {
        Form::YesNo => {
            if rule.threshold.met(c.counts[0], decisive) {
                Outcome::Passed
            } else {
                Outcome::Rejected
            }
        }
        Form::Choice => choice_outcome(rule, c),
        Form::Ranked => unreachable!("a ranked motion is counted by ranked_outcome"),
    }
}

/// A choice's outcome once its quorum is met: the one option with the most ballots, if
/// it meets the threshold among the decisive ones.
pub fn choice_outcome(rule: &Rule, c: &Counts) -> Outcome {
    match unique_top(&c.counts[..c.options()]) {
        Some(j) if rule.threshold.met(c.counts[j], c.decisive()) => Outcome::Chosen(j as u32),
        _ => Outcome::NoDecision,
    }
}

/// Pairwise preferences: `d[i][j]` is how many of the rankings put option `i` above
/// option `j`. Every ranking lists each of the `options` once, or none (an abstention,
/// which prefers nothing).
pub fn pairwise<'a>(options: usize, rankings: impl IntoIterator<Item = &'a [u32]>) -> Vec<Vec<u64>> {
    let mut d = vec![vec![0u64; options]; options];
    let mut place = vec![0usize; options];
    for r in rankings {
        if r.len() != options {
            continue;
        }
        for (at, &o) in r.iter().enumerate() {
            place[o as usize] = at;
        }
        for (i, row) in d.iter_mut().enumerate() {
            for (j, n) in row.iter_mut().enumerate() {
                if place[i] < place[j] {
                    *n += 1;
                }
            }
        }
    }
    d
}

/// The strongest paths, by winning votes: a link `i → j` has strength `d[i][j]` when
/// `d[i][j] > d[j][i]`, else 0; `p[i][j]` is the strength of the strongest path from `i`
/// to `j` (a path is as strong as its weakest link), 0 on the diagonal.
pub fn strongest_paths(d: &[Vec<u64>]) -> Vec<Vec<u64>> {
    let n = d.len();
    let mut p = vec![vec![0u64; n]; n];
    for i in 0..n {
        for j in 0..n {
            if i != j && d[i][j] > d[j][i] {
                p[i][j] = d[i][j];
            }
        }
    }
    for k in 0..n {
        for i in 0..n {
            if i == k {
                continue;
            }
            for j in 0..n {
                if j != i && j != k {
                    p[i][j] = p[i][j].max(p[i][k].min(p[k][j]));
                }
            }
        }
    }
    p
}

/// The Schulze winners: every `i` with `p[i][j] ≥ p[j][i]` for each other `j`
/// ([`strongest_paths`]). There is always at least one.
pub fn schulze_winners(d: &[Vec<u64>]) -> Vec<usize> {
    let p = strongest_paths(d);
    let n = p.len();
    (0..n).filter(|&i| (0..n).all(|j| j == i || p[i][j] >= p[j][i])).collect()
}

/// Where several options win, the lot decides: the one whose `SHA-256(motion id ‖
/// option as 4 bytes, big-endian)` is smallest. The lot is fixed when the motion opens,
/// before any ballot.
pub fn lot(motion: &Hash, tied: &[usize]) -> Option<usize> {
    tied.iter().copied().min_by_key(|&o| {
        let mut b = motion.0.to_vec();
        b.extend_from_slice(&(o as u32).to_be_bytes());
        Hash::of(&b)
    })
}

/// The outcome of a ranked motion once it closes. `c` counts first preferences (with
/// abstentions last) for the quorum; `d` is the pairwise matrix of every latest ranking.
pub fn ranked_outcome(rule: &Rule, c: &Counts, d: &[Vec<u64>], motion: &Hash) -> Outcome {
    if !rule.quorum.reached(c.cast(), c.electorate) {
        return Outcome::NoQuorum;
    }
    if c.decisive() == 0 {
        return Outcome::NoDecision;
    }
    match lot(motion, &schulze_winners(d)) {
        Some(w) => Outcome::Chosen(w as u32),
        None => Outcome::NoDecision,
    }
}

/// A ranked motion's outcome if it is already settled, from the final rankings alone
/// (`fixed` counts their first preferences, `d` is their pairwise matrix). Sound, not
/// exact: it is `Some` only when every completion gives that outcome, which holds when
/// every ballot is final and cast, or when one option beats each other by more pairwise
/// preferences than the open ballots could turn (it is then the Condorcet winner of
/// every completion, which is always the one Schulze winner).
pub fn ranked_settled(rule: &Rule, fixed: &Counts, d: &[Vec<u64>], open: Open, motion: &Hash) -> Option<Outcome> {
    if let Some(answer) = settled_by_quorum(rule, fixed, open) {
        return answer;
    }
    let m = open.at_most;
    if m == 0 {
        return Some(ranked_outcome(rule, fixed, d, motion));
    }
    let n = d.len();
    (0..n).find(|&w| (0..n).all(|j| j == w || d[w][j] > d[j][w] + m)).map(|w| Outcome::Chosen(w as u32))
}

/// The first step of [`settled`] and [`ranked_settled`]: `Some(answer)` when the quorum
/// alone decides it (unreachable: "no quorum"; reachable but not certain: not settled),
/// `None` when the quorum is met in every completion.
fn settled_by_quorum(rule: &Rule, fixed: &Counts, open: Open) -> Option<Option<Outcome>> {
    let cast = fixed.cast();
    if !rule.quorum.reached(cast + open.at_most, fixed.electorate) {
        return Some(Some(Outcome::NoQuorum));
    }
    if !rule.quorum.reached(cast + open.at_least, fixed.electorate) {
        // Both "no quorum" and a quorate count are still possible.
        return Some(None);
    }
    None
}

fn unique_top(counts: &[u64]) -> Option<usize> {
    let max = *counts.iter().max()?;
    let mut tops = counts.iter().enumerate().filter(|(_, &n)| n == max);
    let (j, _) = tops.next()?;
    if tops.next().is_some() {
        None
    } else {
        Some(j)
    }
}

/// The ballots that can still come or change on an open motion.
///
/// Members whose latest ballot is not final may still change it but cannot withdraw it:
/// there are at least `at_least` ballots beyond the final ones. Members of the electorate
/// with no ballot may add one or stay away: there are at most `at_most`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Open {
    pub at_least: u64,
    pub at_most: u64,
}

/// The outcome if it is already settled: the same whatever happens to the ballots that
/// are not final (each may still change to any option or abstain) and whatever the
/// members who have not voted do (vote for anything, abstain, or stay away). `fixed`
/// counts only the final ballots. A motion may close early exactly when this is `Some`.
///
/// Exact: it is `Some` if and only if every completion gives the same outcome (checked
/// against every completion by a property test).
pub fn settled(form: Form, rule: &Rule, fixed: &Counts, open: Open) -> Option<Outcome> {
    if let Some(answer) = settled_by_quorum(rule, fixed, open) {
        return answer;
    }
    // The quorum is met in every completion. Every open ballot going one way is the
    // extreme for each outcome: a threshold share only grows as ballots for the option
    // are added, and only shrinks as ballots against it are.
    let m = open.at_most;
    let decisive = fixed.decisive();
    match form {
        Form::YesNo => {
            let yes = fixed.counts[0];
            let can_pass = rule.threshold.met(yes + m, decisive + m);
            // Every open ballot "no", or (with no final decisive ballot) every open ballot
            // an abstention, which leaves no decisive ballot: that never passes.
            let can_fail = decisive == 0 || !rule.threshold.met(yes, decisive + m);
            match (can_pass, can_fail) {
                (true, false) => Some(Outcome::Passed),
                (false, true) => Some(Outcome::Rejected),
                _ => None,
            }
        }
        Form::Ranked => unreachable!("a ranked motion is settled by ranked_settled"),
        Form::Choice => {
            let opts = &fixed.counts[..fixed.options()];
            let mut any_can_win = false;
            for (j, &cj) in opts.iter().enumerate() {
                let best_rival = opts.iter().enumerate().filter(|&(i, _)| i != j).map(|(_, &n)| n).max().unwrap_or(0);
                // Worst case for j: every open ballot goes to its strongest rival.
                if cj > best_rival + m && rule.threshold.met(cj, decisive + m) {
                    return Some(Outcome::Chosen(j as u32));
                }
                // Best case for j: every open ballot goes to j.
                if cj + m > best_rival && rule.threshold.met(cj + m, decisive + m) {
                    any_can_win = true;
                }
            }
            if any_can_win {
                None
            } else {
                Some(Outcome::NoDecision)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::{Share, Threshold};

    fn rule(q: (u32, u32), t: Threshold) -> Rule {
        Rule { quorum: Share::new(q.0, q.1), threshold: t }
    }

    fn counts(v: &[u64], electorate: u64) -> Counts {
        Counts { counts: v.to_vec(), electorate }
    }

    #[test]
    fn simple_majority_needs_more_than_half_of_decisive_ballots() {
        let r = rule((1, 2), Threshold::SIMPLE_MAJORITY);
        assert_eq!(outcome(Form::YesNo, &r, &counts(&[3, 2, 5], 10)), Outcome::Passed);
        assert_eq!(outcome(Form::YesNo, &r, &counts(&[3, 3, 4], 10)), Outcome::Rejected);
        // Abstentions count for the quorum, not for the threshold.
        assert_eq!(outcome(Form::YesNo, &r, &counts(&[1, 0, 4], 10)), Outcome::Passed);
        assert_eq!(outcome(Form::YesNo, &r, &counts(&[1, 0, 3], 10)), Outcome::NoQuorum);
        // Everyone abstaining decides nothing.
        assert_eq!(outcome(Form::YesNo, &r, &counts(&[0, 0, 10], 10)), Outcome::Rejected);
    }

    #[test]
    fn two_thirds_and_unanimity() {
        let t = rule((0, 1), Threshold::TWO_THIRDS);
        assert_eq!(outcome(Form::YesNo, &t, &counts(&[2, 1, 0], 3)), Outcome::Passed);
        assert_eq!(outcome(Form::YesNo, &t, &counts(&[3, 2, 0], 5)), Outcome::Rejected);
        let u = rule((1, 1), Threshold::UNANIMITY);
        assert_eq!(outcome(Form::YesNo, &u, &counts(&[4, 0, 1], 5)), Outcome::Passed);
        assert_eq!(outcome(Form::YesNo, &u, &counts(&[4, 1, 0], 5)), Outcome::Rejected);
        assert_eq!(outcome(Form::YesNo, &u, &counts(&[4, 0, 0], 5)), Outcome::NoQuorum);
    }

    #[test]
    fn choice_needs_a_unique_top_meeting_the_threshold() {
        let r = rule((0, 1), Threshold { num: 0, den: 1, strict: true });
        assert_eq!(outcome(Form::Choice, &r, &counts(&[3, 2, 1, 0], 9)), Outcome::Chosen(0));
        assert_eq!(outcome(Form::Choice, &r, &counts(&[3, 3, 1, 0], 9)), Outcome::NoDecision);
        let m = rule((0, 1), Threshold::SIMPLE_MAJORITY);
        assert_eq!(outcome(Form::Choice, &m, &counts(&[3, 2, 2, 5], 20)), Outcome::NoDecision);
        assert_eq!(outcome(Form::Choice, &m, &counts(&[5, 2, 2, 0], 20)), Outcome::Chosen(0));
    }

    /// No final ballot: everything cast may still change, and the rest may still come.
    fn open(voters: u64, electorate: u64) -> Open {
        Open { at_least: voters, at_most: electorate }
    }

    #[test]
    fn early_close_cases() {
        let r = rule((1, 2), Threshold::SIMPLE_MAJORITY);
        // 6 of 10 said yes for good: nothing the other 4 do can stop it.
        assert_eq!(
            settled(Form::YesNo, &r, &counts(&[6, 0, 0], 10), Open { at_least: 0, at_most: 4 }),
            Some(Outcome::Passed)
        );
        // The same 6 ballots, not final: they may still turn to "no".
        assert_eq!(settled(Form::YesNo, &r, &counts(&[0, 0, 0], 10), open(6, 10)), None);
        // 5 of 10 final yes: 5 "no" would make it 5:5.
        assert_eq!(settled(Form::YesNo, &r, &counts(&[5, 0, 0], 10), Open { at_least: 0, at_most: 5 }), None);
        assert_eq!(
            settled(Form::YesNo, &r, &counts(&[0, 5, 0], 10), Open { at_least: 0, at_most: 5 }),
            Some(Outcome::Rejected)
        );
        // Quorum not met yet but reachable: undecided.
        assert_eq!(settled(Form::YesNo, &r, &counts(&[2, 0, 0], 10), Open { at_least: 0, at_most: 8 }), None);
        // Nobody has voted and no ballot at all never passes, even at a zero threshold
        // (found by the early-close property test).
        let lax = rule((0, 1), Threshold { num: 0, den: 1, strict: false });
        assert_eq!(settled(Form::YesNo, &lax, &counts(&[0, 0, 0], 1), open(0, 1)), None);
        // Everyone has voted for good: decided as the tally says.
        assert_eq!(settled(Form::YesNo, &r, &counts(&[1, 1, 1], 3), open(0, 0)), Some(Outcome::Rejected));
        // Everyone has voted, but the ballots may still change: open.
        assert_eq!(settled(Form::YesNo, &r, &counts(&[0, 0, 0], 3), open(3, 3)), None);
    }

    /// The case of issue 15: unanimity between July and August in a council of three.
    /// One member votes July and one August, neither for good: the second may still
    /// switch to July and the third make it unanimous.
    #[test]
    fn a_changeable_ballot_keeps_a_unanimity_open() {
        let u = rule((1, 2), Threshold::UNANIMITY);
        assert_eq!(settled(Form::Choice, &u, &counts(&[0, 0, 0], 3), open(2, 3)), None);
        // Both ballots final: unanimity is out of reach.
        assert_eq!(settled(Form::Choice, &u, &counts(&[1, 1, 0], 3), open(0, 1)), Some(Outcome::NoDecision));
        // July final, August still open: August may still turn to July.
        assert_eq!(settled(Form::Choice, &u, &counts(&[1, 0, 0], 3), open(1, 2)), None);
    }

    #[test]
    fn min_part_matches_met() {
        for t in [
            Threshold::SIMPLE_MAJORITY,
            Threshold::TWO_THIRDS,
            Threshold::UNANIMITY,
            Threshold { num: 0, den: 1, strict: false },
        ] {
            for whole in 1..50u64 {
                let m = t.min_part(whole);
                assert!(m > whole || t.met(m, whole), "{t:?} {whole}");
                assert!(m == 1 || !t.met(m - 1, whole), "{t:?} {whole}");
            }
        }
    }
}
