//! The flotilla microkernel: the object model (the ABI every component speaks), supervision
//! strategies for actors, the API request/response vocabulary and the location-transparent
//! client through which every component reaches the API. It knows no concrete component.

pub mod api;
pub mod object;
pub mod supervision;
