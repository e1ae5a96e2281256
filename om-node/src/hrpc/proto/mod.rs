//! Protobuf messages of the Hadoop RPC front end, written by hand as prost structs with the
//! field numbers of Hadoop's and Ozone's `.proto` files (which are not copied into this
//! repository). Only what omring reads or sends is declared; prost skips unknown fields.

pub mod admin;
pub mod hadoop;
pub mod hdds;
pub mod om;
