//! Which user agents are bots: isbot's patterns, with its verdicts on the
//! agents seen lately remembered. Its regex set costs a few hundred nanoseconds a check
//! and every screened request asks, while a site's requests come from few
//! agents.

use std::collections::HashMap;
use std::sync::Mutex;

/// Verdicts remembered at most; past that the memo starts over, so agents
/// made up per request cannot grow it without bound.
const REMEMBERED: usize = 4096;

/// isbot's check with a bounded memo of its verdicts.
#[derive(Default)]
pub(crate) struct BotCheck {
    patterns: isbot::Bots,
    verdicts: Mutex<HashMap<Box<str>, bool>>,
}

impl BotCheck {
    /// Whether `user_agent` is a bot's.
    pub(crate) fn is_bot(&self, user_agent: &str) -> bool {
        if let Some(verdict) = self.verdicts.lock().expect("not poisoned").get(user_agent) {
            return *verdict;
        }
        let verdict = self.patterns.is_bot(user_agent);
        let mut verdicts = self.verdicts.lock().expect("not poisoned");
        if verdicts.len() >= REMEMBERED {
            verdicts.clear();
        }
        verdicts.insert(user_agent.into(), verdict);
        verdict
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembered_verdicts_are_isbots_and_the_memo_stays_bounded() {
        let check = BotCheck::default();
        for _ in 0..2 {
            assert!(check.is_bot("Googlebot/2.1 (+http://www.google.com/bot.html)"));
            assert!(!check.is_bot("Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"));
        }
        assert_eq!(check.verdicts.lock().unwrap().len(), 2, "one entry per agent");
        for n in 0..REMEMBERED + 10 {
            check.is_bot(&format!("Mozilla/5.0 agent {n}"));
        }
        assert!(check.verdicts.lock().unwrap().len() <= REMEMBERED);
        assert!(
            check.is_bot("Googlebot/2.1 (+http://www.google.com/bot.html)"),
            "still right after a start-over"
        );
    }
}
