//! `cargo run -p example_project` serves the example blog on
//! <http://127.0.0.1:8000>; `cargo run -p example_project -- hash-password`
//! reads a password on standard input and prints the Argon2 hash that
//! `admin.password_hash` takes.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    match std::env::args().nth(1).as_deref() {
        None => {
            let site = example_project::site(example_project::figment());
            rocket::execute(site.launch())?;
            Ok(())
        }
        Some("hash-password") => {
            let mut password = String::new();
            std::io::stdin().read_line(&mut password)?;
            let password = password.trim_end_matches(['\r', '\n']);
            let hash = example_project::hash_password(password)
                .map_err(|e| format!("hash-password: {e}; give the password on standard input"))?;
            println!("{hash}");
            Ok(())
        }
        Some(other) => {
            Err(format!("unknown command {other:?}: run without arguments, or with `hash-password`").into())
        }
    }
}
