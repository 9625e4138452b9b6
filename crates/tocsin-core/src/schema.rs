//! Hand-written JSON Schemas for the API's OpenAPI document (feature `openapi`), for the values
//! that a file may write either as a number or as text (`64KiB`, `80%`, `"2xx"`).

use utoipa::openapi::schema::{OneOfBuilder, Schema, Type};
use utoipa::openapi::{ObjectBuilder, RefOr};

/// A number (of type `number`, within `min..=max`) or a text matching `pattern`.
pub(crate) fn number_or_text(
    number: Type,
    min: i64,
    max: Option<i64>,
    pattern: &str,
    example: &str,
    description: &str,
) -> RefOr<Schema> {
    OneOfBuilder::new()
        .item(
            ObjectBuilder::new()
                .schema_type(number)
                .minimum(Some(min))
                .maximum(max),
        )
        .item(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(pattern))
                .examples([example]),
        )
        .description(Some(description))
        .into()
}

/// Implements `PartialSchema` and `ToSchema` for `$t` with [`number_or_text`].
macro_rules! number_or_text_schema {
    ($t:ty, $number:ident, $min:expr, $max:expr, $pattern:expr, $example:expr, $description:expr) => {
        impl utoipa::PartialSchema for $t {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                $crate::schema::number_or_text(
                    utoipa::openapi::schema::Type::$number,
                    $min,
                    $max,
                    $pattern,
                    $example,
                    $description,
                )
            }
        }

        impl utoipa::ToSchema for $t {}
    };
}

pub(crate) use number_or_text_schema;
