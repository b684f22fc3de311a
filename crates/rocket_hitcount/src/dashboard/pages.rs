//! The dashboard's routes: the overview, the hit log and its actions, an
//! object's page, the blacklists, and the stylesheet and script.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use hitcount::{
    AdminAction, DayHits, HitFilter, HitRecord, ObjectRef, PeriodObject, PeriodTotals, Tally, TopVisitors,
};
use rocket::form::{Form, FromForm};
use rocket::http::{ContentType, Header, Status};
use rocket::request::{FlashMessage, Request};
use rocket::response::{Flash, Redirect, Responder};
use rocket::{catch, catchers, get, post, routes, Catcher, Either, Route};
use serde::Serialize;

use super::access::{Access, Label, Owner};
use super::agent;
use super::chart;
use super::query::{
    once, required, value_in_query, Chosen, LogQuery, LogState, PeriodQuery, Refusal, PERIODS,
};
use super::render::{Html, CSS, JS};
use crate::CsrfToken;

pub(crate) fn routes() -> Vec<Route> {
    routes![
        overview,
        hit_log,
        hit_action,
        object_page,
        blacklists,
        change_blacklist,
        css,
        js
    ]
}

pub(crate) fn catchers() -> Vec<Catcher> {
    catchers![bad_request, not_found, incomplete_form]
}

/// Objects per ranking of the overview.
const RANKED: u32 = 20;
/// Lines in each "unusual traffic" list.
const UNUSUAL: u32 = 5;
/// Recent hits on an object's page.
const RECENT: u32 = 10;

/// A stored IP longer than this (a hash) is shortened on the page.
const SHORT_IP: usize = 16;

/// A page or the error page that replaces it.
type Page = Result<Html, Html>;

impl Owner<'_> {
    fn refused(&self, refusal: Refusal, csrf: &CsrfToken<'_>) -> Html {
        self.access
            .views
            .error(refusal.status, &refusal.message, Some(csrf.value()))
    }

    /// A read or write of the counter that failed: 503 when the database
    /// is away, 400 for input the core refused, else 500; the cause goes
    /// to the log.
    fn failed(&self, what: &str, error: hitcount::Error, csrf: &CsrfToken<'_>) -> Html {
        let error = crate::Error::from(error);
        let refusal = match error.status() {
            Status::BadRequest => Refusal::new(Status::BadRequest, error.to_string()),
            Status::ServiceUnavailable => Refusal::new(
                Status::ServiceUnavailable,
                format!("{what} failed: the database did not answer; try again shortly"),
            ),
            status => {
                rocket::error!("hitcount dashboard: {what}: {error}");
                Refusal::new(status, format!("{what} failed; see the server log"))
            }
        };
        self.refused(refusal, csrf)
    }

    /// Names of `objects` for the page: the app's label, or `kind:id`;
    /// their pages open on `period`, or on the default one.
    async fn names(&self, objects: impl Iterator<Item = &ObjectRef>, period: Option<&Chosen>) -> Names {
        let mut unique: Vec<ObjectRef> = objects.cloned().collect();
        unique.sort_by(|a, b| (a.kind(), a.id()).cmp(&(b.kind(), b.id())));
        unique.dedup();
        Names {
            labels: self.labels(&unique).await,
            page: format!("{}/objects/", self.base()),
            period: period.map(|p| format!("?{}", p.query())).unwrap_or_default(),
        }
    }

    fn base(&self) -> &str {
        self.access.views.base()
    }
}

/// The head of an "unusual traffic" list.
fn unusual(objects: &[PeriodObject]) -> &[PeriodObject] {
    &objects[..objects.len().min(UNUSUAL as usize)]
}

/// The app's labels of a page's objects, and how to link their pages.
struct Names {
    labels: HashMap<ObjectRef, Label>,
    /// `<base>/objects/`.
    page: String,
    /// The period's query string, or nothing.
    period: String,
}

/// An object as a page shows it.
#[derive(Serialize)]
struct Named {
    pk: i64,
    /// The label's title, or `kind:id`.
    name: String,
    /// `kind:id` when a label gives the name.
    key: Option<String>,
    url: Option<String>,
    /// Its page on the dashboard.
    link: String,
}

impl Names {
    fn of(&self, pk: i64, object: &ObjectRef) -> Named {
        let key = format!("{}:{}", object.kind(), object.id());
        let link = format!("{}{pk}{}", self.page, self.period);
        match self.labels.get(object) {
            Some(label) => Named {
                pk,
                name: label.title.clone(),
                key: Some(key),
                url: label.url.clone(),
                link,
            },
            None => Named {
                pk,
                name: key,
                key: None,
                url: None,
                link,
            },
        }
    }
}

/// The hit log with `query` (none when empty).
fn log_link(base: &str, query: &str) -> String {
    if query.is_empty() {
        format!("{base}/hits")
    } else {
        format!("{base}/hits?{query}")
    }
}

/// A time as the pages show it, with its zone.
fn when(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// A stored IP, shortened when it is a hash (an address is shown whole).
fn short_ip(ip: &str) -> String {
    if ip.parse::<std::net::IpAddr>().is_err() && ip.chars().count() > SHORT_IP {
        let head: String = ip.chars().take(10).collect();
        format!("{head}…")
    } else {
        ip.to_owned()
    }
}

#[derive(Serialize)]
struct Ranked {
    object: Named,
    hits: i64,
    views: i64,
    bot_hits: i64,
    /// Hits and bot hits.
    requests: i64,
    /// The bar, on the ranking's one scale (the ranking by hits only).
    bar: Option<String>,
    /// Views per hit, one decimal.
    ratio: String,
    /// Bot share, in whole percent.
    bots: String,
}

/// `objects` as a page lists them; with `most`, each with a bar of its
/// hits on the scale whose longest bar is `most`.
fn ranked(names: &Names, objects: &[PeriodObject], most: Option<i64>) -> Vec<Ranked> {
    objects
        .iter()
        .map(|o| Ranked {
            object: names.of(o.pk, &o.object),
            hits: o.hits,
            views: o.views,
            bot_hits: o.bot_hits,
            requests: o.hits + o.bot_hits,
            bar: most.map(|most| chart::bar(chart::share(o.hits, most))),
            ratio: format!("{:.1}", o.views_per_hit()),
            bots: format!("{:.0}%", o.bot_share() * 100.0),
        })
        .collect()
}

#[derive(Serialize)]
struct Visitor {
    value: String,
    short: String,
    hits: i64,
    /// The hit log filtered by it; none for an empty user agent, which
    /// the log cannot filter by.
    link: Option<String>,
}

fn visitors(
    base: &str,
    tallies: &[Tally],
    param: &str,
    extra: &str,
    short: impl Fn(&str) -> String,
) -> Vec<Visitor> {
    tallies
        .iter()
        .map(|t| Visitor {
            short: short(&t.value),
            hits: t.hits,
            link: (!t.value.is_empty())
                .then(|| format!("{base}/hits?{param}={}{extra}", value_in_query(&t.value))),
            value: t.value.clone(),
        })
        .collect()
}

#[derive(Serialize)]
struct Day {
    day: String,
    hits: i64,
    views: i64,
    bot_hits: i64,
}

fn days(days: &[DayHits]) -> Vec<Day> {
    days.iter()
        .map(|d| Day {
            day: d.day.to_string(),
            hits: d.hits,
            views: d.views,
            bot_hits: d.bot_hits,
        })
        .collect()
}

/// What the overview and an object's page share: the period, its totals,
/// the chart and its table, and the top visitors.
#[derive(Serialize)]
struct PeriodView {
    period: Chosen,
    periods: Vec<Choice>,
    hits: i64,
    views: i64,
    bot_hits: i64,
    chart: String,
    days: Vec<Day>,
    ips: Vec<Visitor>,
    user_agents: Vec<Visitor>,
    sampled: i64,
    sample_limit: u32,
}

#[derive(Serialize)]
struct Choice {
    name: &'static str,
    label: &'static str,
}

fn period_view(
    base: &str,
    chosen: Chosen,
    period_days: &[DayHits],
    top: &TopVisitors,
    object: Option<i64>,
) -> PeriodView {
    let totals = PeriodTotals::of(period_days);
    let extra = format!(
        "&since={}&until={}{}",
        chosen.from,
        chosen.to,
        object.map(|pk| format!("&object={pk}")).unwrap_or_default()
    );
    let summary = format!("Hits per day, {} to {}", chosen.from, chosen.to);
    PeriodView {
        periods: PERIODS
            .iter()
            .map(|&(name, label)| Choice { name, label })
            .collect(),
        hits: totals.hits,
        views: totals.views,
        bot_hits: totals.bot_hits,
        chart: chart::daily(
            &period_days.iter().map(|d| (d.day, d.hits)).collect::<Vec<_>>(),
            &summary,
        ),
        days: days(period_days),
        ips: visitors(base, &top.ips, "ip", &extra, short_ip),
        user_agents: visitors(base, &top.user_agents, "ua", &extra, agent::shown),
        sampled: top.sampled,
        sample_limit: hitcount::VISITOR_SAMPLE,
        period: chosen,
    }
}

#[derive(Serialize)]
struct OverviewContext {
    #[serde(flatten)]
    view: PeriodView,
    objects: u64,
    top: Vec<Ranked>,
    views_per_hit: Vec<Ranked>,
    most_bots: Vec<Ranked>,
    nav: &'static str,
}

/// The overview: a period's totals, its daily chart, the objects read
/// most, and the signs of inflated counts.
#[get("/?<period..>")]
async fn overview(
    owner: Owner<'_>,
    csrf: CsrfToken<'_>,
    flash: Option<FlashMessage<'_>>,
    period: PeriodQuery<'_>,
) -> Page {
    let counter = owner.hitcount.counter();
    let chosen = period
        .chosen(counter.now().date_naive())
        .map_err(|r| owner.refused(r, &csrf))?;
    let admin = counter.admin();
    let report = admin
        .period_report(chosen.period, RANKED)
        .await
        .map_err(|e| owner.failed("reading the period", e, &csrf))?;
    let top = admin
        .top_visitors(chosen.period, None, UNUSUAL)
        .await
        .map_err(|e| owner.failed("reading the top visitors", e, &csrf))?;
    let names = owner
        .names(
            report
                .top
                .iter()
                .chain(&report.most_views_per_hit)
                .chain(&report.most_bots)
                .map(|o| &o.object),
            Some(&chosen),
        )
        .await;
    let most = report.top.first().map_or(0, |o| o.hits);
    let context = OverviewContext {
        objects: report.objects,
        top: ranked(&names, &report.top, Some(most)),
        views_per_hit: ranked(&names, unusual(&report.most_views_per_hit), None),
        most_bots: ranked(&names, unusual(&report.most_bots), None),
        view: period_view(owner.base(), chosen, &report.days, &top, None),
        nav: "overview",
    };
    Ok(owner
        .access
        .views
        .page("overview", Some(csrf.value()), flash.as_ref(), context))
}

#[derive(Serialize)]
struct Hit {
    id: i64,
    object: Named,
    created: String,
    ip: Option<String>,
    ip_short: Option<String>,
    ip_link: Option<String>,
    user_agent: String,
    /// Browser and system, or the user agent itself.
    agent: String,
    /// Whether `agent` summarises (the full text then opens on a click).
    summarised: bool,
    ua_link: Option<String>,
    user_id: Option<String>,
    blacklisted_ip: bool,
    blacklisted_ua: bool,
}

async fn hit_rows(owner: &Owner<'_>, hits: &[HitRecord]) -> Vec<Hit> {
    let names = owner.names(hits.iter().map(|h| &h.object), None).await;
    let marks = owner.hitcount.counter().admin().blacklisted(hits).await;
    let base = owner.base();
    hits.iter()
        .zip(marks)
        .map(|(hit, mark)| Hit {
            id: hit.id,
            object: names.of(hit.pk, &hit.object),
            created: when(hit.created_at),
            ip_short: hit.ip.as_deref().map(short_ip),
            ip_link: hit
                .ip
                .as_deref()
                .map(|ip| format!("{base}/hits?ip={}", value_in_query(ip))),
            ip: hit.ip.clone(),
            agent: agent::shown(&hit.user_agent),
            summarised: agent::summary(&hit.user_agent).is_some(),
            ua_link: (!hit.user_agent.is_empty())
                .then(|| format!("{base}/hits?ua={}", value_in_query(&hit.user_agent))),
            user_agent: hit.user_agent.clone(),
            user_id: hit.user_id.clone(),
            blacklisted_ip: mark.ip,
            blacklisted_ua: mark.user_agent,
        })
        .collect()
}

#[derive(Serialize)]
struct Column {
    label: &'static str,
    link: String,
    /// `ascending`, `descending` or empty.
    sorted: &'static str,
}

#[derive(Serialize)]
struct Action {
    name: &'static str,
    description: &'static str,
}

#[derive(Serialize)]
struct LogContext {
    hits: Vec<Hit>,
    total: i64,
    /// More than `total` match: the count stops there.
    more: bool,
    page: u32,
    pages: u32,
    previous: Option<String>,
    next: Option<String>,
    columns: Vec<Column>,
    actions: Vec<Action>,
    state: LogState,
    /// The object filtered by, named.
    object: Option<Named>,
    filtered: bool,
    nav: &'static str,
}

/// The hit log, Django-admin style: filters, sortable columns, paged.
#[get("/hits?<log..>")]
async fn hit_log(
    owner: Owner<'_>,
    csrf: CsrfToken<'_>,
    flash: Option<FlashMessage<'_>>,
    log: LogQuery<'_>,
) -> Result<Either<Html, Redirect>, Html> {
    let (filter, state) = log.filter().map_err(|r| owner.refused(r, &csrf))?;
    let counter = owner.hitcount.counter();
    let page = counter
        .admin()
        .list_hits(&filter)
        .await
        .map_err(|e| owner.failed("reading the hit log", e, &csrf))?;
    let base = owner.base();
    let pages = page.pages();
    if filter.page > pages {
        // A page past the end (its hits deleted by an action, say): the
        // last page, with the same filters.
        let last = pages.to_string();
        return Ok(Either::Right(Redirect::to(log_link(
            base,
            &state.query(&[("page", &last)]),
        ))));
    }
    let object = match filter.object_pk {
        Some(pk) => match counter.object_by_pk(pk).await {
            Ok(Some((object, _))) => Some(owner.names(std::iter::once(&object), None).await.of(pk, &object)),
            Ok(None) => None,
            Err(e) => return Err(owner.failed("reading the object", e, &csrf)),
        },
        None => None,
    };
    let link = |extra: &[(&str, &str)]| log_link(base, &state.query(extra));
    let columns = [
        ("When", hitcount::HitColumn::Created),
        ("Object", hitcount::HitColumn::Object),
        ("IP", hitcount::HitColumn::Ip),
        ("User agent", hitcount::HitColumn::UserAgent),
    ]
    .into_iter()
    .map(|(label, column)| {
        let current = filter.order.column == column;
        // A click on the sorted column turns it round; on another, sorts
        // by it (newest first for time, A to Z otherwise).
        let descending = if current {
            !filter.order.descending
        } else {
            column == hitcount::HitColumn::Created
        };
        let order = hitcount::HitOrder { column, descending };
        let mut state = state.clone();
        state.o = super::query::order_param(order);
        Column {
            label,
            link: log_link(base, &state.query(&[])),
            sorted: match (current, filter.order.descending) {
                (false, _) => "",
                (true, true) => "descending",
                (true, false) => "ascending",
            },
        }
    })
    .collect();
    let context = LogContext {
        hits: hit_rows(&owner, &page.hits).await,
        total: page.total,
        more: page.more,
        page: page.page,
        pages,
        previous: (page.page > 1).then(|| link(&[("page", &(page.page - 1).to_string())])),
        next: (page.page < pages).then(|| link(&[("page", &(page.page + 1).to_string())])),
        columns,
        actions: AdminAction::ALL
            .iter()
            .map(|a| Action {
                name: a.name(),
                description: a.description(),
            })
            .collect(),
        filtered: state.filters(),
        state,
        object,
        nav: "hits",
    };
    Ok(Either::Left(owner.access.views.page(
        "hits",
        Some(csrf.value()),
        flash.as_ref(),
        context,
    )))
}

/// The hit log's form: an action, the selected hits, and the filters to
/// return to. Each field is read as written and checked by the handler,
/// which names a missing or repeated one.
#[derive(FromForm)]
struct HitsForm<'r> {
    csrfmiddlewaretoken: Vec<&'r str>,
    action: Vec<&'r str>,
    selected: Vec<&'r str>,
    /// `yes` once the confirmation page has been seen.
    confirm: Vec<&'r str>,
    q: Vec<&'r str>,
    object: Vec<&'r str>,
    ip: Vec<&'r str>,
    ua: Vec<&'r str>,
    since: Vec<&'r str>,
    until: Vec<&'r str>,
    o: Vec<&'r str>,
    page: Vec<&'r str>,
}

#[derive(Serialize)]
struct ConfirmContext {
    action: &'static str,
    description: &'static str,
    selected: Vec<i64>,
    hits: Vec<Hit>,
    state: LogState,
    page: String,
    back: String,
    nav: &'static str,
}

/// An answer to the hit log's form: a redirect back, or the confirmation
/// page.
#[derive(Responder)]
enum Answer {
    Done(Box<Flash<Redirect>>),
    Page(Html),
}

/// Runs one of django-hitcount's actions on the selected hits. Actions
/// that delete ask first, on a page that lists what goes; the answer
/// returns to the hit log with its filters and says what was done.
#[post("/hits", data = "<form>")]
async fn hit_action(owner: Owner<'_>, csrf: CsrfToken<'_>, form: Form<HitsForm<'_>>) -> Result<Answer, Html> {
    let form = form.into_inner();
    let refused = |r| owner.refused(r, &csrf);
    let token = once("csrfmiddlewaretoken", &form.csrfmiddlewaretoken).map_err(refused)?;
    csrf.verify(token)
        .map_err(|e| owner.refused(Refusal::new(Status::Forbidden, e.to_string()), &csrf))?;
    // The filters go back through the same checks as the hit log's query.
    let query = LogQuery {
        page: form.page,
        q: form.q,
        object: form.object,
        ip: form.ip,
        ua: form.ua,
        since: form.since,
        until: form.until,
        o: form.o,
    };
    let (filter, state) = query.filter().map_err(refused)?;
    let page = if filter.page > 1 {
        filter.page.to_string()
    } else {
        String::new()
    };
    let back = log_link(owner.base(), &state.query(&[("page", &page)]));
    let names: Vec<_> = AdminAction::ALL.iter().map(|a| a.name()).collect();
    let expected = format!("one of {}", names.join(", "));
    let name = required("action", &form.action, &expected).map_err(refused)?;
    let Some(action) = AdminAction::from_name(name) else {
        return Err(refused(Refusal::bad("action", name, &expected)));
    };
    let confirmed = once("confirm", &form.confirm).map_err(refused)? == Some("yes");
    let selected = form
        .selected
        .iter()
        .map(|id| {
            id.parse::<i64>()
                .map_err(|_| Refusal::bad("selected", id, "hit ids (whole numbers)"))
        })
        .collect::<Result<Vec<i64>, _>>()
        .map_err(|r| owner.refused(r, &csrf))?;
    if selected.is_empty() {
        // django.contrib.admin's message.
        let message =
            "Items must be selected in order to perform actions on them. No items have been changed.";
        return Ok(Answer::Done(Box::new(Flash::warning(
            Redirect::to(back),
            message,
        ))));
    }
    let deletes = !matches!(
        action,
        AdminAction::BlacklistIps | AdminAction::BlacklistUserAgents
    );
    let admin = owner.hitcount.counter().admin();
    if deletes && !confirmed {
        let hits = admin
            .hits_by_id(&selected)
            .await
            .map_err(|e| owner.failed("reading the selected hits", e, &csrf))?;
        let context = ConfirmContext {
            action: action.name(),
            description: action.description(),
            hits: hit_rows(&owner, &hits).await,
            selected,
            state,
            page,
            back,
            nav: "hits",
        };
        return Ok(Answer::Page(owner.access.views.page(
            "confirm",
            Some(csrf.value()),
            None,
            context,
        )));
    }
    let report = admin
        .run_action(action, &selected)
        .await
        .map_err(|e| owner.failed("running the action", e, &csrf))?;
    let done = Flash::success(Redirect::to(back), report.messages.join("\n"));
    Ok(Answer::Done(Box::new(done)))
}

#[derive(Serialize)]
struct ObjectContext {
    #[serde(flatten)]
    view: PeriodView,
    object: Named,
    total_hits: i64,
    total_views: i64,
    total_bot_hits: i64,
    recent: Vec<Hit>,
    log_link: String,
    nav: &'static str,
}

/// One object: its totals, its daily chart over the period, its top IPs
/// and user agents, and its recent hits.
#[get("/objects/<pk>?<period..>")]
async fn object_page(owner: Owner<'_>, csrf: CsrfToken<'_>, pk: &str, period: PeriodQuery<'_>) -> Page {
    let pk: i64 = pk
        .parse()
        .map_err(|_| owner.refused(Refusal::bad("the object's pk", pk, "a whole number"), &csrf))?;
    let counter = owner.hitcount.counter();
    let chosen = period
        .chosen(counter.now().date_naive())
        .map_err(|r| owner.refused(r, &csrf))?;
    let Some((object, counts)) = counter
        .object_by_pk(pk)
        .await
        .map_err(|e| owner.failed("reading the object", e, &csrf))?
    else {
        return Err(owner.refused(
            Refusal::new(Status::NotFound, format!("no object has pk {pk}")),
            &csrf,
        ));
    };
    let admin = counter.admin();
    let period_days = admin
        .period_days(chosen.period, Some(pk))
        .await
        .map_err(|e| owner.failed("reading the period", e, &csrf))?;
    let top = admin
        .top_visitors(chosen.period, Some(pk), UNUSUAL)
        .await
        .map_err(|e| owner.failed("reading the top visitors", e, &csrf))?;
    let recent = admin
        .list_hits(&HitFilter {
            object_pk: Some(pk),
            per_page: RECENT,
            ..Default::default()
        })
        .await
        .map_err(|e| owner.failed("reading the recent hits", e, &csrf))?;
    let names = owner.names(std::iter::once(&object), None).await;
    let context = ObjectContext {
        view: period_view(owner.base(), chosen, &period_days, &top, Some(pk)),
        object: names.of(pk, &object),
        total_hits: counts.hits,
        total_views: counts.views,
        total_bot_hits: counts.bot_hits,
        recent: hit_rows(&owner, &recent.hits).await,
        log_link: format!("{}/hits?object={pk}", owner.base()),
        nav: "overview",
    };
    Ok(owner
        .access
        .views
        .page("object", Some(csrf.value()), None, context))
}

#[derive(Serialize)]
struct Entry {
    value: String,
    added: String,
    /// Requests it refused since it was added.
    refused: i64,
    /// The hit log filtered by it: for an address, a stored IP or a user
    /// agent, not for a network (the log filters by one stored IP).
    link: Option<String>,
}

#[derive(Serialize)]
struct List {
    /// The form's `list` value.
    name: &'static str,
    title: &'static str,
    /// The label of the input.
    field: &'static str,
    entries: Vec<Entry>,
}

#[derive(Serialize)]
struct BlacklistsContext {
    lists: [List; 2],
    nav: &'static str,
}

/// The two blacklists, with forms to add and remove entries.
#[get("/blacklists")]
async fn blacklists(owner: Owner<'_>, csrf: CsrfToken<'_>, flash: Option<FlashMessage<'_>>) -> Page {
    let admin = owner.hitcount.counter().admin();
    let read = |e| owner.failed("reading the blacklists", e, &csrf);
    let ips = admin.blacklisted_ips().await.map_err(read)?;
    let user_agents = admin.blacklisted_user_agents().await.map_err(read)?;
    let base = owner.base();
    let entries = |list: Vec<hitcount::BlacklistEntry>, param: &str| -> Vec<Entry> {
        list.into_iter()
            .map(|e| Entry {
                link: (param == "ua" || !e.value.contains('/'))
                    .then(|| format!("{base}/hits?{param}={}", value_in_query(&e.value))),
                added: when(e.created_at),
                refused: e.refused,
                value: e.value,
            })
            .collect()
    };
    let context = BlacklistsContext {
        lists: [
            List {
                name: "ip",
                title: "IP addresses",
                field: "IP, network or stored IP",
                entries: entries(ips, "ip"),
            },
            List {
                name: "user_agent",
                title: "User agents",
                field: "User agent",
                entries: entries(user_agents, "ua"),
            },
        ],
        nav: "blacklists",
    };
    Ok(owner
        .access
        .views
        .page("blacklists", Some(csrf.value()), flash.as_ref(), context))
}

#[derive(FromForm)]
struct BlacklistForm<'r> {
    csrfmiddlewaretoken: Vec<&'r str>,
    /// `ip` or `user_agent`.
    list: Vec<&'r str>,
    /// `add` or `remove`.
    change: Vec<&'r str>,
    value: Vec<&'r str>,
}

/// The longest value a message repeats: a flash message travels in a
/// cookie, which browsers drop past 4 KiB.
const ECHOED: usize = 200;

/// `value` as a message quotes it, cut to [`ECHOED`] characters.
fn quoted(value: &str) -> String {
    if value.chars().count() > ECHOED {
        let head: String = value.chars().take(ECHOED).collect();
        format!("{head:?}…")
    } else {
        format!("{value:?}")
    }
}

/// Adds or removes a blacklist entry and says so; an invalid IP or user
/// agent is a message naming the problem.
#[post("/blacklists", data = "<form>")]
async fn change_blacklist(
    owner: Owner<'_>,
    csrf: CsrfToken<'_>,
    form: Form<BlacklistForm<'_>>,
) -> Result<Flash<Redirect>, Html> {
    let refused = |r| owner.refused(r, &csrf);
    let token = once("csrfmiddlewaretoken", &form.csrfmiddlewaretoken).map_err(refused)?;
    csrf.verify(token)
        .map_err(|e| owner.refused(Refusal::new(Status::Forbidden, e.to_string()), &csrf))?;
    let ips = match required("list", &form.list, "\"ip\" or \"user_agent\"").map_err(refused)? {
        "ip" => true,
        "user_agent" => false,
        other => return Err(refused(Refusal::bad("list", other, "\"ip\" or \"user_agent\""))),
    };
    let add = match required("change", &form.change, "\"add\" or \"remove\"").map_err(refused)? {
        "add" => true,
        "remove" => false,
        other => return Err(refused(Refusal::bad("change", other, "\"add\" or \"remove\""))),
    };
    let value = required("value", &form.value, "an IP, a network or a user agent").map_err(refused)?;
    // An IP typed with spaces around it is the IP; a user agent is matched
    // exactly, spaces and all.
    let value = if ips { value.trim() } else { value };
    let admin = owner.hitcount.counter().admin();
    let changed = match (add, ips) {
        (true, true) => admin.blacklist_ip(value).await,
        (true, false) => admin.blacklist_user_agent(value).await,
        (false, true) => admin.unblacklist_ip(value).await,
        (false, false) => admin.unblacklist_user_agent(value).await,
    };
    let back = Redirect::to(format!("{}/blacklists", owner.base()));
    let shown = quoted(value);
    Ok(match (changed, add) {
        (Ok(true), true) => Flash::success(back, format!("Blacklisted {shown}.")),
        (Ok(false), true) => Flash::warning(back, format!("{shown} was already blacklisted.")),
        (Ok(true), false) => Flash::success(back, format!("Removed {shown} from the blacklist.")),
        (Ok(false), false) => Flash::warning(back, format!("{shown} was not blacklisted.")),
        (Err(hitcount::Error::InvalidInput { what, reason, .. }), _) => {
            Flash::error(back, format!("{what} {shown} {reason}"))
        }
        (Err(e), _) => return Err(owner.failed("changing a blacklist", e, &csrf)),
    })
}

/// A stylesheet or script of the dashboard: the same for everyone (the
/// login page needs it before the guard lets anyone in), cached a day.
#[derive(Responder)]
struct Asset {
    body: &'static str,
    kind: ContentType,
    cache: Header<'static>,
}

impl Asset {
    fn new(body: &'static str, kind: ContentType) -> Asset {
        Asset {
            body,
            kind,
            // The pages ask for them with the crate's version in the
            // query, so an upgrade never meets a stale copy.
            cache: Header::new("Cache-Control", "public, max-age=86400"),
        }
    }
}

#[get("/static/dashboard.css")]
fn css() -> Asset {
    Asset::new(CSS, ContentType::CSS)
}

#[get("/static/dashboard.js")]
fn js() -> Asset {
    Asset::new(JS, ContentType::JavaScript)
}

/// An error under the dashboard's path, in its layout. The menu is left
/// out: the request may not have passed the guard.
fn caught(status: Status, message: &str, request: &Request<'_>) -> Html {
    match request.rocket().state::<Access>() {
        Some(access) => access.views.error(status, message, None),
        // The catchers are registered with the state; nothing to show
        // without it.
        None => Html(status, String::new()),
    }
}

#[catch(400)]
fn bad_request(request: &Request<'_>) -> Html {
    caught(Status::BadRequest, "the request is malformed", request)
}

#[catch(404)]
fn not_found(request: &Request<'_>) -> Html {
    let message = format!("there is no page at {}", request.uri().path());
    caught(Status::NotFound, &message, request)
}

/// A form that lacks a field (Rocket refuses it before the handler).
#[catch(422)]
fn incomplete_form(request: &Request<'_>) -> Html {
    caught(
        Status::UnprocessableEntity,
        "the form is incomplete: a field it needs is missing",
        request,
    )
}
