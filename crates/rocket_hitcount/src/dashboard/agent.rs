//! User agents summarised as browser and system, by the `woothee` parser.

use woothee::parser::Parser;

/// What woothee answers for a part it does not know.
const UNKNOWN: &str = "UNKNOWN";

/// "Firefox 120 · Linux", "Googlebot · crawler", or `None` when the
/// parser knows neither the browser nor the system (the page then shows
/// the user agent itself).
pub(crate) fn summary(user_agent: &str) -> Option<String> {
    let parsed = Parser::new().parse(user_agent)?;
    let known = |part: &str| !part.is_empty() && part != UNKNOWN;
    let major = parsed.version.split('.').next().filter(|v| known(v));
    let browser = known(parsed.name).then(|| match major {
        Some(major) => format!("{} {major}", parsed.name),
        None => parsed.name.to_owned(),
    });
    let system = if parsed.category == "crawler" {
        Some("crawler".to_owned())
    } else {
        known(parsed.os).then(|| parsed.os.to_owned())
    };
    match (browser, system) {
        (Some(browser), Some(system)) => Some(format!("{browser} · {system}")),
        (Some(one), None) | (None, Some(one)) => Some(one),
        (None, None) => None,
    }
}

/// What a page shows for a user agent: its [`summary`], or the text
/// itself, or "(none)" for an empty one.
pub(crate) fn shown(user_agent: &str) -> String {
    match summary(user_agent) {
        Some(summary) => summary,
        None if user_agent.is_empty() => "(none)".to_owned(),
        None => user_agent.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::{shown, summary};

    #[test]
    fn browsers_and_systems_are_named() {
        let firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0";
        assert_eq!(summary(firefox).as_deref(), Some("Firefox 120 · Linux"));
        let chrome = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 \
                      (KHTML, like Gecko) CriOS/119.0.6045.109 Mobile/15E148 Safari/604.1";
        assert_eq!(summary(chrome).as_deref(), Some("Chrome 119 · iPhone"));
        let bot = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";
        assert_eq!(summary(bot).as_deref(), Some("Googlebot · crawler"));
        assert_eq!(summary("my_clever_agent"), None);
        assert_eq!(summary(""), None);
        assert_eq!(shown(""), "(none)");
        assert_eq!(shown("my_clever_agent"), "my_clever_agent");
    }
}
