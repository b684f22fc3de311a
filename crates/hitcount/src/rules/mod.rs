//! The counting rules: django-hitcount's decision procedure, in its order
//! and with its messages, plus the bot and Do-Not-Track screens.
//!
//! The steps that need no database ([`screen`]) run in memory, against the
//! bot list and the blacklists this instance keeps in memory; the steps
//! that need the hit log ([`decide`], [`decide_batch`]) get their facts
//! from the counting queue, which reads them inside the transaction that
//! writes the hits, so the decision is atomic.

use std::net::IpAddr;

use serde::Serialize;

use crate::settings::{BotPolicy, Settings};
use crate::values::Visitor;

mod batch;
mod blacklist;
mod bots;

pub(crate) use batch::{decide_batch, Request};
pub(crate) use blacklist::{BlacklistCache, Blacklists, List};
pub(crate) use bots::BotCheck;

/// Why a hit was or was not counted. [`Reason::message`] gives
/// django-hitcount's text, byte for byte.
///
/// ```
/// use hitcount::Reason;
///
/// assert_eq!(Reason::CountedSession.message(), "Hit counted: session key");
/// assert!(Reason::CountedSession.counted());
/// assert!(!Reason::SessionHasActiveHit.counted());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Reason {
    /// 1. The IP address is on the blacklist.
    BlacklistedIp,
    /// 2. The user agent is on the blacklist.
    BlacklistedUserAgent,
    /// 3. The authenticated user is in one of `exclude_user_groups`.
    ExcludedGroup,
    /// The user agent is a known bot (not in django-hitcount).
    Bot,
    /// The visitor sent Do-Not-Track or Global Privacy Control and
    /// `respect_do_not_track` is on (not in django-hitcount).
    DoNotTrack,
    /// 4. The IP has made `hits_per_ip_limit` active hits.
    IpLimitReached,
    /// 5. Counted: the authenticated user had no active hit on the object.
    CountedUser,
    /// 5. The authenticated user has an active hit on the object.
    UserHasActiveHit,
    /// 6. Counted: the session had no active hit on the object.
    CountedSession,
    /// 6. The session has an active hit on the object.
    SessionHasActiveHit,
    /// The database did not answer within `count_timeout`, or failed, or
    /// failed lately and is given a rest: this request is not known to be
    /// counted (if its batch was already being written when its time ran
    /// out, its hit may still be stored, once). Not in django-hitcount.
    Unavailable,
}

impl Reason {
    /// The message django-hitcount gives for this outcome; new outcomes
    /// follow its `Not counted: <reason>` style.
    ///
    /// ```
    /// assert_eq!(
    ///     hitcount::Reason::BlacklistedIp.message(),
    ///     "Not counted: user IP has been blacklisted"
    /// );
    /// ```
    pub const fn message(self) -> &'static str {
        match self {
            Reason::BlacklistedIp => "Not counted: user IP has been blacklisted",
            Reason::BlacklistedUserAgent => "Not counted: user agent has been blacklisted",
            Reason::ExcludedGroup => "Not counted: user excluded by group",
            Reason::Bot => "Not counted: user agent is a bot",
            Reason::DoNotTrack => "Not counted: visitor asked not to be tracked",
            Reason::IpLimitReached => "Not counted: hits per IP address limit reached",
            Reason::CountedUser => "Hit counted: user authentication",
            Reason::UserHasActiveHit => "Not counted: authenticated user has active hit",
            Reason::CountedSession => "Hit counted: session key",
            Reason::SessionHasActiveHit => "Not counted: session key has active hit",
            Reason::Unavailable => "Not counted: the hit count database is unavailable",
        }
    }

    /// Whether the hit was counted.
    ///
    /// ```
    /// assert!(hitcount::Reason::CountedUser.counted());
    /// ```
    pub const fn counted(self) -> bool {
        matches!(self, Reason::CountedUser | Reason::CountedSession)
    }

    /// What the request adds to the object's totals.
    pub(crate) fn tally(self, bots: BotPolicy) -> Tally {
        match self {
            Reason::BlacklistedIp
            | Reason::BlacklistedUserAgent
            | Reason::ExcludedGroup
            | Reason::Unavailable => Tally::Nothing,
            Reason::Bot if bots == BotPolicy::Separate => Tally::Bot,
            Reason::Bot => Tally::Nothing,
            Reason::DoNotTrack
            | Reason::IpLimitReached
            | Reason::UserHasActiveHit
            | Reason::SessionHasActiveHit => Tally::View,
            Reason::CountedUser | Reason::CountedSession => Tally::Hit,
        }
    }
}

/// What one request adds to an object's totals.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Tally {
    /// Nothing is written (blacklisted, excluded, ignored bots).
    Nothing,
    /// `views + 1`: a person's request that is not a new unique hit.
    View,
    /// `bot_hits + 1`.
    Bot,
    /// `hits + 1`, `views + 1`, a hit row and its buckets.
    Hit,
}

/// Steps 1-3 of django-hitcount and the bot and Do-Not-Track screens: the
/// refusals that need no database. `None` means: go on to [`decide`].
pub(crate) fn screen(
    settings: &Settings,
    bots: &BotCheck,
    blacklists: &Blacklists,
    visitor: &Visitor,
    stored_ip: Option<&str>,
) -> Option<Reason> {
    if visitor
        .ip()
        .is_some_and(|ip: IpAddr| blacklists.blocks_ip(ip, stored_ip))
    {
        return Some(Reason::BlacklistedIp);
    }
    if blacklists.blocks_user_agent(visitor.user_agent()) {
        return Some(Reason::BlacklistedUserAgent);
    }
    if let Some(user) = visitor.user() {
        if user
            .groups()
            .iter()
            .any(|group| settings.exclude_user_groups.contains(group))
        {
            return Some(Reason::ExcludedGroup);
        }
    }
    if settings.bots != BotPolicy::Count && bots.is_bot(visitor.user_agent()) {
        return Some(Reason::Bot);
    }
    if settings.respect_do_not_track && visitor.do_not_track() {
        return Some(Reason::DoNotTrack);
    }
    None
}

/// Steps 4-6 of django-hitcount, given what the hit log says: how many
/// active hits the visitor's IP has made (`None` when the limit is off or
/// the IP is unknown) and whether the visitor (the user when authenticated,
/// else the session) has an active hit on the object.
pub(crate) fn decide(
    settings: &Settings,
    visitor: &Visitor,
    ip_active_hits: Option<i64>,
    has_active_hit: bool,
) -> Reason {
    let limit = i64::from(settings.hits_per_ip_limit);
    if limit > 0 && ip_active_hits.is_some_and(|n| n >= limit) {
        return Reason::IpLimitReached;
    }
    match (visitor.user().is_some(), has_active_hit) {
        (true, false) => Reason::CountedUser,
        (true, true) => Reason::UserHasActiveHit,
        (false, false) => Reason::CountedSession,
        (false, true) => Reason::SessionHasActiveHit,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::values::User;

    const BROWSER: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";

    fn visitor() -> Visitor {
        Visitor::new("session")
            .unwrap()
            .with_ip("127.0.0.1".parse().unwrap())
            .with_user_agent(BROWSER)
    }

    fn member_of(group: &str) -> Visitor {
        visitor().with_user(User::new("john").unwrap().with_groups([group]))
    }

    fn blacklists(ips: &[&str], agents: &[&str]) -> Blacklists {
        Blacklists::new(
            ips.iter().map(|s| s.to_string()),
            agents.iter().map(|s| s.to_string()),
        )
    }

    fn settings(edit: impl FnOnce(&mut Settings)) -> Settings {
        let mut s = Settings::default();
        edit(&mut s);
        s
    }

    /// One line per case: settings, blacklists, visitor, the facts from the
    /// hit log, and the reason the procedure must give.
    macro_rules! decision_cases {
        ($($name:ident: $settings:expr, $lists:expr, $visitor:expr, ($ip_hits:expr, $active:expr) => $reason:expr;)*) => {$(
            #[test]
            fn $name() {
                let settings = $settings;
                let visitor = $visitor;
                let bots = BotCheck::default();
                let reason = screen(&settings, &bots, &$lists, &visitor, None)
                    .unwrap_or_else(|| decide(&settings, &visitor, $ip_hits, $active));
                assert_eq!(reason, $reason);
            }
        )*};
    }

    decision_cases! {
        anonymous_first_hit: Settings::default(), blacklists(&[], &[]), visitor(), (None, false) => Reason::CountedSession;
        anonymous_repeat: Settings::default(), blacklists(&[], &[]), visitor(), (None, true) => Reason::SessionHasActiveHit;
        user_first_hit: Settings::default(), blacklists(&[], &[]), member_of("Readers"), (None, false) => Reason::CountedUser;
        user_repeat: Settings::default(), blacklists(&[], &[]), member_of("Readers"), (None, true) => Reason::UserHasActiveHit;
        blacklisted_ip: Settings::default(), blacklists(&["127.0.0.1"], &[]), visitor(), (None, false) => Reason::BlacklistedIp;
        blacklisted_network: Settings::default(), blacklists(&["127.0.0.0/8"], &[]), visitor(), (None, false) => Reason::BlacklistedIp;
        blacklisted_agent: Settings::default(), blacklists(&[], &[BROWSER]), visitor(), (None, false) => Reason::BlacklistedUserAgent;
        ip_before_agent: Settings::default(), blacklists(&["127.0.0.1"], &[BROWSER]), visitor(), (None, false) => Reason::BlacklistedIp;
        excluded_group: settings(|s| s.exclude_user_groups = vec!["Admin".into()]), blacklists(&[], &[]), member_of("Admin"), (None, false) => Reason::ExcludedGroup;
        other_group_counts: settings(|s| s.exclude_user_groups = vec!["Admin".into()]), blacklists(&[], &[]), member_of("Readers"), (None, false) => Reason::CountedUser;
        anonymous_not_excluded: settings(|s| s.exclude_user_groups = vec!["Admin".into()]), blacklists(&[], &[]), visitor(), (None, false) => Reason::CountedSession;
        agent_before_group: settings(|s| s.exclude_user_groups = vec!["Admin".into()]), blacklists(&[], &[BROWSER]), member_of("Admin"), (None, false) => Reason::BlacklistedUserAgent;
        limit_reached: settings(|s| s.hits_per_ip_limit = 2), blacklists(&[], &[]), visitor(), (Some(2), false) => Reason::IpLimitReached;
        limit_not_reached: settings(|s| s.hits_per_ip_limit = 2), blacklists(&[], &[]), visitor(), (Some(1), false) => Reason::CountedSession;
        limit_before_active_hit: settings(|s| s.hits_per_ip_limit = 2), blacklists(&[], &[]), visitor(), (Some(5), true) => Reason::IpLimitReached;
        limit_off_ignores_count: Settings::default(), blacklists(&[], &[]), visitor(), (Some(500), false) => Reason::CountedSession;
        group_before_limit: settings(|s| { s.hits_per_ip_limit = 1; s.exclude_user_groups = vec!["Admin".into()]; }), blacklists(&[], &[]), member_of("Admin"), (Some(9), false) => Reason::ExcludedGroup;
        bot_is_separate: Settings::default(), blacklists(&[], &[]), visitor().with_user_agent("Googlebot/2.1 (+http://www.google.com/bot.html)"), (None, false) => Reason::Bot;
        bot_is_ignored: settings(|s| s.bots = BotPolicy::Ignore), blacklists(&[], &[]), visitor().with_user_agent("Googlebot/2.1"), (None, false) => Reason::Bot;
        bot_is_counted: settings(|s| s.bots = BotPolicy::Count), blacklists(&[], &[]), visitor().with_user_agent("Googlebot/2.1"), (None, false) => Reason::CountedSession;
        blacklist_before_bot: Settings::default(), blacklists(&[], &["Googlebot/2.1"]), visitor().with_user_agent("Googlebot/2.1"), (None, false) => Reason::BlacklistedUserAgent;
        dnt_ignored_by_default: Settings::default(), blacklists(&[], &[]), visitor().with_do_not_track(true), (None, false) => Reason::CountedSession;
        dnt_respected: settings(|s| s.respect_do_not_track = true), blacklists(&[], &[]), visitor().with_do_not_track(true), (None, false) => Reason::DoNotTrack;
        dnt_before_limit: settings(|s| { s.respect_do_not_track = true; s.hits_per_ip_limit = 1; }), blacklists(&[], &[]), visitor().with_do_not_track(true), (Some(3), false) => Reason::DoNotTrack;
        empty_agent_is_a_person: Settings::default(), blacklists(&[], &[]), visitor().with_user_agent(""), (None, false) => Reason::CountedSession;
    }

    #[test]
    fn the_eight_messages_are_django_hitcounts() {
        let expected = [
            (Reason::BlacklistedIp, "Not counted: user IP has been blacklisted"),
            (
                Reason::BlacklistedUserAgent,
                "Not counted: user agent has been blacklisted",
            ),
            (Reason::ExcludedGroup, "Not counted: user excluded by group"),
            (
                Reason::IpLimitReached,
                "Not counted: hits per IP address limit reached",
            ),
            (Reason::CountedUser, "Hit counted: user authentication"),
            (
                Reason::UserHasActiveHit,
                "Not counted: authenticated user has active hit",
            ),
            (Reason::CountedSession, "Hit counted: session key"),
            (
                Reason::SessionHasActiveHit,
                "Not counted: session key has active hit",
            ),
        ];
        for (reason, message) in expected {
            assert_eq!(reason.message(), message);
            assert_eq!(reason.counted(), message.starts_with("Hit counted"));
        }
        for new in [Reason::Bot, Reason::DoNotTrack, Reason::Unavailable] {
            assert!(new.message().starts_with("Not counted: "));
        }
    }

    #[test]
    fn tallies() {
        assert_eq!(Reason::BlacklistedIp.tally(BotPolicy::Separate), Tally::Nothing);
        assert_eq!(Reason::ExcludedGroup.tally(BotPolicy::Separate), Tally::Nothing);
        assert_eq!(Reason::Bot.tally(BotPolicy::Separate), Tally::Bot);
        assert_eq!(Reason::Bot.tally(BotPolicy::Ignore), Tally::Nothing);
        assert_eq!(
            Reason::SessionHasActiveHit.tally(BotPolicy::Separate),
            Tally::View
        );
        assert_eq!(Reason::DoNotTrack.tally(BotPolicy::Separate), Tally::View);
        assert_eq!(Reason::CountedUser.tally(BotPolicy::Separate), Tally::Hit);
    }
}
