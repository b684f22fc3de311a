//! A small app with the fairing, on the test database, and helpers to
//! drive it with Rocket's local client.

use std::net::SocketAddr;

use hitcount::ObjectRef;
use rocket::figment::Figment;
use rocket::http::{ContentType, Header, Status};
use rocket::local::asynchronous::{Client, LocalResponse};
use rocket::request::{self, FromRequest, Request};
use rocket::response::content::RawHtml;
use rocket::serde::json::{json, Json, Value};
use rocket::{get, routes, Build, Rocket};
use rocket_db_pools::{sqlx, Database};
use rocket_dyn_templates::Template;
use rocket_hitcount::TemplateFunctions;
use rocket_hitcount::{HitContext, HitCount, HitUser, Hits, JsContext, ViewContext};

use crate::common::TestDb;

#[derive(Database)]
#[database("hits")]
pub struct SqliteHits(sqlx::SqlitePool);

#[derive(Database)]
#[database("hits")]
pub struct PgHits(sqlx::PgPool);

#[derive(Database)]
#[database("hits")]
pub struct MariaDbHits(sqlx::MySqlPool);

/// `$body` with `$database` the type of the test database's backend
/// (`SqliteHits`, `PgHits` or `MariaDbHits`).
macro_rules! on_test_database {
    ($db:expr, $database:ident => $body:expr) => {
        if $db.is_postgres() {
            type $database = $crate::app::PgHits;
            $body
        } else if $db.is_mariadb() {
            type $database = $crate::app::MariaDbHits;
            $body
        } else {
            type $database = $crate::app::SqliteHits;
            $body
        }
    };
}

/// A test user from the `X-Test-User: id;group,group` header.
pub struct TestUser(Option<hitcount::User>);

#[rocket::async_trait]
impl<'r> FromRequest<'r> for TestUser {
    type Error = ();

    async fn from_request(request: &'r Request<'_>) -> request::Outcome<Self, ()> {
        let user = request.headers().get_one("X-Test-User").and_then(|value| {
            let (id, groups) = value.split_once(';').unwrap_or((value, ""));
            Some(
                hitcount::User::new(id)
                    .ok()?
                    .with_groups(groups.split(',').filter(|g| !g.is_empty())),
            )
        });
        request::Outcome::Success(TestUser(user))
    }
}

impl HitUser for TestUser {
    fn hit_user(&self) -> Option<hitcount::User> {
        self.0.clone()
    }
}

fn post(id: i64) -> ObjectRef {
    ObjectRef::new("blog.post", id).unwrap()
}

#[get("/post/<id>")]
async fn count(id: i64, hits: Hits<'_>) -> Json<HitContext> {
    Json(hits.count(&post(id)).await.unwrap())
}

/// Two guards in one handler: one counts, the other is only dropped.
#[get("/post/<id>/twice")]
async fn count_with_two_guards(id: i64, hits: Hits<'_>, _other: Hits<'_>) -> Json<HitContext> {
    Json(hits.count(&post(id)).await.unwrap())
}

#[get("/post/<id>/view")]
async fn view(id: i64, hits: Hits<'_>) -> Json<ViewContext> {
    Json(hits.view(&post(id)).await.unwrap())
}

#[get("/post/<id>/js")]
async fn js(id: i64, hits: Hits<'_>) -> Json<JsContext> {
    Json(hits.js_variables(&post(id)).await.unwrap())
}

#[get("/about")]
fn about(hits: Hits<'_>) -> Json<Value> {
    Json(json!({
        "returned_cookie": hits.returned_cookie(),
        "ip": hits.visitor().ip().map(|ip| ip.to_string()),
        "session_key": hits.visitor().session_key(),
    }))
}

#[get("/page")]
fn page() -> RawHtml<&'static str> {
    RawHtml("<html><body>a page</body></html>")
}

/// The jQuery versions the browser test runs `jquery.postcsrf.js` with.
#[get("/vendor/<version>")]
fn jquery(version: &str) -> Option<(ContentType, &'static str)> {
    let file = match version {
        "jquery-3.7.1.min.js" => include_str!("vendor/jquery-3.7.1.min.js"),
        "jquery-4.0.0.min.js" => include_str!("vendor/jquery-4.0.0.min.js"),
        _ => return None,
    };
    Some((ContentType::JavaScript, file))
}

/// A page whose script counts post `id` in the browser and writes each
/// answer into the page: with hitcount.js (`client = "fetch"`, plus a
/// beacon for post `id + 1`), or with jQuery `client` and `$.postCSRF`.
#[get("/browser/<client>/<id>")]
async fn browser_page(client: &str, id: i64, hits: Hits<'_>) -> Option<RawHtml<String>> {
    let vars = hits.js_variables(&post(id)).await.ok()?;
    let beacon = hits.js_variables(&post(id + 1)).await.ok()?;
    let hit = |vars: &JsContext| {
        format!(
            "{{hitcountPK: '{}', hitcountURL: '{}', hitcountToken: '{}'}}",
            vars.pk, vars.ajax_url, vars.token
        )
    };
    let script = match client {
        "fetch" => format!(
            r#"<script src="/hitcount/static/hitcount.js"></script>
<script>
var hitcountJS = {main};
var beaconJS = {beacon};
function show(id, text) {{ document.getElementById(id).textContent = text; }}
HitCount.countHit().then(function (a) {{
  show("first", a.hit_message);
  return HitCount.countHit();
}}).then(function (b) {{
  show("second", b.hit_message);
  show("beacon", String(HitCount.beacon(beaconJS)));
  return new Promise(function (done) {{ setTimeout(done, 1000); }});
}}).then(function () {{
  return HitCount.countHit(beaconJS);
}}).then(function (c) {{
  show("after-beacon", c.hit_message);
}}).catch(function (e) {{ show("first", "error: " + e); }});
</script>"#,
            main = hit(&vars),
            beacon = hit(&beacon)
        ),
        "jquery-3.7.1" | "jquery-4.0.0" => format!(
            r##"<script src="/vendor/{client}.min.js"></script>
<script src="/hitcount/static/jquery.postcsrf.js"></script>
<script>
var hitcountJS = {main};
var data = {{hitcountPK: hitcountJS.hitcountPK, hitcountToken: hitcountJS.hitcountToken}};
$.postCSRF(hitcountJS.hitcountURL, data, function (a) {{
  $("#first").text(a.hit_message);
  $.postCSRF(hitcountJS.hitcountURL, data).done(function (b) {{
    $("#second").text(b.hit_message);
    $("#version").text($.fn.jquery);
  }});
}});
</script>"##,
            main = hit(&vars)
        ),
        _ => return None,
    };
    Some(RawHtml(format!(
        r#"<!doctype html><html><head><meta charset="utf-8"></head><body>
<p><i id="first">pending</i> <i id="second">pending</i> <i id="beacon">pending</i>
<i id="after-beacon">pending</i> <i id="version">pending</i></p>
{script}
</body></html>"#
    )))
}

/// The figment of the test app on `db`, with `hitcount` settings merged.
pub fn figment(db: &TestDb, hitcount: Value) -> Figment {
    let mut settings = json!({ "secret_key": "test secret key, thirty-two chars long" });
    settings
        .as_object_mut()
        .unwrap()
        .extend(hitcount.as_object().unwrap().clone());
    rocket::Config::figment()
        .merge(("databases.hits.url", db.url.clone()))
        .merge(("databases.hits.max_connections", 8))
        .merge(("hitcount", settings))
        .merge(("log_level", "off"))
}

/// The test app, not yet ignited.
pub fn rocket(db: &TestDb, hitcount: Value) -> Rocket<Build> {
    rocket_from(db, figment(db, hitcount))
}

/// The test app with a figment of [`figment`]'s making.
pub fn rocket_from(db: &TestDb, figment: Figment) -> Rocket<Build> {
    rocket_and_functions(db, figment).0
}

/// The test app and the template functions of its fairing.
pub fn rocket_and_functions(db: &TestDb, figment: Figment) -> (Rocket<Build>, TemplateFunctions) {
    rocket_on_clock(db, figment, hitcount::Clock::system())
}

/// The test app counting with `clock`, and the template functions of its
/// fairing.
pub fn rocket_on_clock(
    db: &TestDb,
    figment: Figment,
    clock: hitcount::Clock,
) -> (Rocket<Build>, TemplateFunctions) {
    let app = rocket::custom(figment).mount(
        "/",
        routes![
            count,
            count_with_two_guards,
            view,
            js,
            about,
            page,
            jquery,
            browser_page
        ],
    );
    on_test_database!(db, D => {
        let hitcount = HitCount::init::<D>().with_users::<TestUser>().with_clock(clock);
        let functions = hitcount.template_functions();
        (app.attach(D::init()).attach(hitcount), functions)
    })
}

/// A client that keeps cookies, like a browser.
pub async fn browser(db: &TestDb, hitcount: Value) -> Client {
    Client::tracked(rocket(db, hitcount))
        .await
        .expect("the app launches")
}

/// A client that keeps no cookies, like curl.
pub async fn curl(db: &TestDb, hitcount: Value) -> Client {
    Client::untracked(rocket(db, hitcount))
        .await
        .expect("the app launches")
}

pub fn addr(ip: &str) -> SocketAddr {
    SocketAddr::new(ip.parse().unwrap(), 40000)
}

pub async fn json(response: LocalResponse<'_>) -> Value {
    response.into_json::<Value>().await.expect("a JSON body")
}

/// What a page's script does: read pk and token, get the CSRF token.
pub struct Page {
    pub pk: i64,
    pub token: String,
    pub csrf: String,
}

pub async fn open_page(client: &Client, id: i64) -> Page {
    let vars = json(client.get(format!("/post/{id}/js")).dispatch().await).await;
    let csrf = json(client.get("/hitcount/csrf").dispatch().await).await;
    Page {
        pk: vars["pk"].as_i64().unwrap(),
        token: vars["token"].as_str().unwrap().to_owned(),
        csrf: csrf["csrftoken"].as_str().unwrap().to_owned(),
    }
}

/// POSTs a form to the AJAX endpoint with the CSRF header.
pub async fn post_hit<'c>(client: &'c Client, csrf: &str, form: &str) -> LocalResponse<'c> {
    client
        .post("/hitcount/hit/ajax")
        .header(ContentType::Form)
        .header(Header::new("X-CSRFToken", csrf.to_owned()))
        .body(form)
        .dispatch()
        .await
}

/// The status and `error_message` of an error answer.
pub async fn error_of(response: LocalResponse<'_>) -> (Status, String) {
    let status = response.status();
    let body = json(response).await;
    assert_eq!(body["success"], false, "{body}");
    (status, body["error_message"].as_str().unwrap().to_owned())
}

/// The context of the template tests: a post with its key in a `hitcount`
/// field, a post never counted, a post without a key, 50 posts with only
/// ids, and a window as a map.
pub fn context() -> Value {
    let posts: Vec<Value> = (1..=50)
        .map(|id| json!({ "id": id, "title": format!("Post {id}") }))
        .collect();
    json!({
        "post": { "id": 1, "title": "Hello World", "hitcount": "blog.post:1" },
        "new_post": { "id": 99, "title": "Never read", "hitcount": "blog.post:99" },
        "bare_post": { "title": "No key" },
        "posts": posts,
        "window": { "hours": 1, "minutes": 30 },
    })
}

/// Templates by name, added raw to the app's Tera.
pub type Sources = &'static [(&'static str, &'static str)];

/// `/render/<name>`: template `name` with [`context`].
#[get("/render/<name>")]
fn render_template(name: &str, sources: &rocket::State<Sources>) -> Option<Template> {
    sources
        .iter()
        .any(|(n, _)| *n == name)
        .then(|| Template::render(name.to_owned(), context()))
}

/// The test app with `templates` and rocket-hitcount's functions
/// registered; and the functions, to register in a plain Tera as well.
pub async fn template_app(db: &TestDb, hitcount: Value, templates: Sources) -> (Client, TemplateFunctions) {
    template_app_from(db, figment(db, hitcount), templates).await
}

/// [`template_app`] with a figment of [`figment`]'s making.
pub async fn template_app_from(
    db: &TestDb,
    figment: Figment,
    templates: Sources,
) -> (Client, TemplateFunctions) {
    // Rocket needs a template folder; the tests' templates are added raw.
    let folder = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/rocket/tera");
    let (rocket, functions) = rocket_and_functions(db, figment.merge(("template_dir", folder)));
    let registered = functions.clone();
    let engines = Template::custom(move |engines| {
        registered.register(&mut engines.tera);
        engines
            .tera
            .add_raw_templates(templates.to_vec())
            .expect("test templates parse");
    });
    let rocket = rocket
        .attach(engines)
        .mount("/", routes![render_template])
        .manage(templates);
    let client = Client::untracked(rocket).await.expect("the app launches");
    (client, functions)
}

/// Renders template `name` of `templates` in the app of [`template_app`].
pub async fn render(client: &Client, templates: Sources, name: &str) -> (Status, String) {
    assert!(
        templates.iter().any(|(n, _)| *n == name),
        "no test template {name}"
    );
    let response = client.get(format!("/render/{name}")).dispatch().await;
    (
        response.status(),
        response.into_string().await.unwrap_or_default(),
    )
}
