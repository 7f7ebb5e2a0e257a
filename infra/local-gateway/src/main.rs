// glibc malloc's arena locks showed up as a quarter of lait-local's CPU under chat fan-out
// (many small allocations on both worker threads); mimalloc removes that contention.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let app = lait_shared::runtime::boot(lait_local::App::new).await?;
    app.serve().await
}
