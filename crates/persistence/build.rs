// `sqlx::migrate!` embeds the migrations when this crate compiles, and on stable Rust cannot tell
// cargo that it read them: without this, a new migration alone leaves binaries and tests built
// with the old set.
fn main() {
    println!("cargo:rerun-if-changed=../../migrations");
}
