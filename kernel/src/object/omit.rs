//! Predicates for `skip_serializing_if`: the zero values Kubernetes marks `omitempty`, so that
//! objects written back as YAML look like kubectl's output.

pub(crate) fn is_zero_i32(value: &i32) -> bool {
    *value == 0
}

pub(crate) fn is_zero_i64(value: &i64) -> bool {
    *value == 0
}

pub(crate) fn is_false(value: &bool) -> bool {
    !*value
}
