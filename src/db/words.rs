//! Word enums (`domain::Word`) in text columns, on both backends: written as
//! their word, read back strictly. A stored word that is not in the set is a
//! deserialization error (a 500 whose log names the type and the value),
//! never a silent default.
//!
//! `word_enum!` (domain) derives diesel's `AsExpression` and `FromSqlRow`
//! for `Text`; `text_column!(T, U, …)` here adds the `ToSql`/`FromSql` for
//! the multi-backend (and `ToSql` for the inner SQLite and PostgreSQL
//! connections, for the inserts that run on them), so the storage rule
//! lives in the database layer.

use diesel::deserialize;

use crate::domain::Word;

/// Reads `raw` as a `W`, or fails naming the type and the value.
pub fn read_word<W: Word>(raw: &str) -> deserialize::Result<W> {
    W::from_word(raw).ok_or_else(|| format!("stored {} is not valid: {raw:?}", W::WHAT).into())
}

macro_rules! text_column {
    ($($t:ty),+ $(,)?) => {$(
        impl diesel::deserialize::FromSql<diesel::sql_types::Text, $crate::db::MultiBackend> for $t {
            fn from_sql(
                bytes: <$crate::db::MultiBackend as diesel::backend::Backend>::RawValue<'_>,
            ) -> diesel::deserialize::Result<Self> {
                let raw: String = bytes.from_sql::<String, diesel::sql_types::Text>()?;
                $crate::db::words::read_word(&raw)
            }
        }

        impl diesel::serialize::ToSql<diesel::sql_types::Text, $crate::db::MultiBackend> for $t {
            fn to_sql<'b>(
                &'b self,
                out: &mut diesel::serialize::Output<'b, '_, $crate::db::MultiBackend>,
            ) -> diesel::serialize::Result {
                out.set_value((diesel::sql_types::Text, $crate::domain::Word::word(*self)));
                Ok(diesel::serialize::IsNull::No)
            }
        }

        impl diesel::serialize::ToSql<diesel::sql_types::Text, diesel::sqlite::Sqlite> for $t {
            fn to_sql<'b>(
                &'b self,
                out: &mut diesel::serialize::Output<'b, '_, diesel::sqlite::Sqlite>,
            ) -> diesel::serialize::Result {
                <str as diesel::serialize::ToSql<diesel::sql_types::Text, diesel::sqlite::Sqlite>>::to_sql(
                    $crate::domain::Word::word(*self),
                    out,
                )
            }
        }

        impl diesel::serialize::ToSql<diesel::sql_types::Text, diesel::pg::Pg> for $t {
            fn to_sql<'b>(
                &'b self,
                out: &mut diesel::serialize::Output<'b, '_, diesel::pg::Pg>,
            ) -> diesel::serialize::Result {
                <str as diesel::serialize::ToSql<diesel::sql_types::Text, diesel::pg::Pg>>::to_sql(
                    $crate::domain::Word::word(*self),
                    out,
                )
            }
        }
    )+};
}

pub(crate) use text_column;
