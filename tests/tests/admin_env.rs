//! The admin set from the environment, as docs/admin.md shows it:
//! `ROCKET_ADMIN='{user="...", password_hash="..."}'` wins over
//! Rocket.toml's development admin. A binary of its own, with this one
//! test: it sets a variable of the process, which no other test may read
//! meanwhile.

use rocket::figment::value::Dict;

#[test]
fn rocket_admin_from_the_environment_wins_over_rocket_toml() {
    let hash = hitcount_tests::ADMIN_PASSWORD_HASH;
    std::env::set_var(
        "ROCKET_ADMIN",
        format!(r#"{{user="from-env", password_hash="{hash}"}}"#),
    );
    let admin: Dict = example_project::figment()
        .extract_inner("admin")
        .expect("an admin table");
    std::env::remove_var("ROCKET_ADMIN");
    assert_eq!(admin["user"].as_str(), Some("from-env"));
    assert_eq!(admin["password_hash"].as_str(), Some(hash));

    // Without it: the development admin of Rocket.toml (debug profile).
    let admin: Dict = example_project::figment()
        .extract_inner("admin")
        .expect("an admin table");
    assert_eq!(admin["user"].as_str(), Some("admin"));
}
