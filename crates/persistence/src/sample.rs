//! The sample data set loaded by `mawid seed`: idempotent, safe to run on every start.

use sqlx::PgPool;

use crate::StoreError;

pub async fn load(_pool: &PgPool) -> Result<(), StoreError> {
    Ok(())
}
