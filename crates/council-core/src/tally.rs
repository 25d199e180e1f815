//! The tally: a pure function of the counted ballots and the rule.
//!
//! Ballots are counted per option, with abstentions as the last slot. The same
//! functions decide council motions (one ballot per member) and federation motions
//! (one ballot per council).

use crate::records::{Outcome, Rule};

/// Whether a motion is a yes/no question or a choice between options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// Option 0 is "yes", option 1 is "no".
    YesNo,
    Choice,
}

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
        Form::Choice => match unique_top(&c.counts[..c.options()]) {
            Some(j) if rule.threshold.met(c.counts[j], decisive) => Outcome::Chosen(j as u32),
            _ => Outcome::NoDecision,
        },
    }
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

/// The outcome if it is already settled: the same whatever the members who have not yet
/// voted do (vote for anything, abstain, or stay away). `voters` is how many members of
/// the electorate have a ballot in `c`. A motion may close early exactly when this is
/// `Some`; closing ends the chance to change a ballot.
pub fn decided(form: Form, rule: &Rule, c: &Counts, voters: u64) -> Option<Outcome> {
    let r = c.electorate.saturating_sub(voters);
    let cast = c.cast();
    if !rule.quorum.reached(cast, c.electorate) {
        // "No quorum" stays possible (nobody else votes); anything else needs the quorum
        // to be reachable.
        return if rule.quorum.reached(cast + r, c.electorate) { None } else { Some(Outcome::NoQuorum) };
    }
    let decisive = c.decisive();
    match form {
        Form::YesNo => {
            let yes = c.counts[0];
            // The share of "yes" is lowest if every remaining ballot is "no", highest if
            // every remaining ballot is "yes". With no decisive ballot yet, nobody else
            // voting leaves the motion with no decisive ballot at all, which never passes.
            if decisive > 0 && rule.threshold.met(yes, decisive + r) {
                Some(Outcome::Passed)
            } else if !rule.threshold.met(yes + r, decisive + r) {
                Some(Outcome::Rejected)
            } else {
                None
            }
        }
        Form::Choice => {
            let opts = &c.counts[..c.options()];
            let mut any_can_win = false;
            for (j, &cj) in opts.iter().enumerate() {
                let best_rival = opts.iter().enumerate().filter(|&(i, _)| i != j).map(|(_, &n)| n).max().unwrap_or(0);
                // Worst case for j: every remaining ballot goes to its strongest rival.
                if cj > best_rival + r && rule.threshold.met(cj, decisive + r) {
                    return Some(Outcome::Chosen(j as u32));
                }
                // Best case for j: every remaining ballot goes to j.
                if cj + r > best_rival && rule.threshold.met(cj + r, decisive + r) {
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

    #[test]
    fn early_close_cases() {
        let r = rule((1, 2), Threshold::SIMPLE_MAJORITY);
        // 6 of 10 said yes: nothing the other 4 do can stop it.
        assert_eq!(decided(Form::YesNo, &r, &counts(&[6, 0, 0], 10), 6), Some(Outcome::Passed));
        // 5 of 10 yes: 5 "no" would make it 5:5.
        assert_eq!(decided(Form::YesNo, &r, &counts(&[5, 0, 0], 10), 5), None);
        assert_eq!(decided(Form::YesNo, &r, &counts(&[0, 5, 0], 10), 5), Some(Outcome::Rejected));
        // Quorum not met yet but reachable: undecided.
        assert_eq!(decided(Form::YesNo, &r, &counts(&[2, 0, 0], 10), 2), None);
        // Nobody has voted and no ballot at all never passes, even at a zero threshold
        // (found by the early-close property test).
        let lax = rule((0, 1), Threshold { num: 0, den: 1, strict: false });
        assert_eq!(decided(Form::YesNo, &lax, &counts(&[0, 0, 0], 1), 0), None);
        // Everyone has voted: decided as the tally says.
        assert_eq!(decided(Form::YesNo, &r, &counts(&[1, 1, 1], 3), 3), Some(Outcome::Rejected));
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
