//! The ranges Services take their ClusterIPs and node ports from, as the API server is
//! configured with them (`--service-cidr`, the node port range), and the order dynamic
//! allocation picks from them in.
//!
//! Both ranges keep Kubernetes' static band: the first addresses and ports (up to 256 IPs, up
//! to 128 ports) are left to operators who ask for a value by name (`clusterIP: 10.43.0.10` for
//! DNS, `nodePort: 30007`), and dynamic allocation takes them only once the rest is full.
//! The first address of the service range is the `kubernetes` Service's.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use thiserror::Error;

/// The largest service range: 2^20 addresses, as Kubernetes allows.
const MIN_PREFIX: u8 = 12;
/// The smallest: a /29, six addresses, one of them the `kubernetes` Service's.
const MAX_PREFIX: u8 = 29;

/// Why a configured range is not one.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ServiceRangeError {
    /// Not `ADDRESS/PREFIX` with an IPv4 address and a prefix length of 0-32.
    #[error("service CIDR {text:?} is not an IPv4 network such as 10.43.0.0/16")]
    NotACidr { text: String },
    /// An IPv6 network: Services are IPv4 only.
    #[error("service CIDR {text:?} is IPv6; flotilla's Services are single-stack IPv4")]
    Ipv6 { text: String },
    /// Bits set past the prefix: the address is not the network's.
    #[error("service CIDR {text:?} has host bits set; did you mean {network}?")]
    HostBits { text: String, network: String },
    /// A prefix outside /12 to /29.
    #[error(
        "service CIDR {text:?} is too {}: the prefix length must be between /{MIN_PREFIX} and \
         /{MAX_PREFIX}",
        if *prefix < MIN_PREFIX { "large" } else { "small" }
    )]
    Size { text: String, prefix: u8 },
    /// Not `FIRST-LAST` with 1 <= FIRST <= LAST <= 65535.
    #[error("node port range {text:?} is not a range of ports such as 30000-32767")]
    NotAPortRange { text: String },
}

/// The IPv4 network ClusterIPs are allocated from; 10.43.0.0/16 unless configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceCidr {
    network: Ipv4Addr,
    prefix: u8,
}

/// The ports node ports are allocated from, both ends included; 30000-32767 unless
/// configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodePortRange {
    first: u16,
    last: u16,
}

/// Offsets `0..size` into a range, of which the first `band` are the static band.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pool {
    pub size: u32,
    pub band: u32,
}

impl ServiceCidr {
    /// The range's addresses, as offsets: every address but the network and broadcast ones.
    pub fn pool(&self) -> Pool {
        let size = (1u32 << (32 - self.prefix)) - 2;
        Pool {
            size,
            band: static_band(size, 16, 256),
        }
    }

    /// The address at `offset` of [`ServiceCidr::pool`].
    pub fn address(&self, offset: u32) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network) + 1 + offset)
    }

    /// The offset of `ip` in the pool; `None` outside it.
    pub fn offset_of(&self, ip: Ipv4Addr) -> Option<u32> {
        let offset = u32::from(ip).checked_sub(u32::from(self.network) + 1)?;
        (offset < self.pool().size).then_some(offset)
    }

    /// The address kept for the `kubernetes` Service: the first of the range.
    pub fn kubernetes_service_ip(&self) -> Ipv4Addr {
        self.address(0)
    }
}

impl NodePortRange {
    /// The range's ports, as offsets.
    pub fn pool(&self) -> Pool {
        let size = u32::from(self.last - self.first) + 1;
        Pool {
            size,
            band: static_band(size, 32, 128),
        }
    }

    /// The port at `offset` of [`NodePortRange::pool`].
    pub fn port(&self, offset: u32) -> u16 {
        // The pool's offsets stay below last - first + 1, so this never saturates.
        u16::try_from(u32::from(self.first) + offset).unwrap_or(u16::MAX)
    }

    /// The offset of `port` in the pool; `None` outside it.
    pub fn offset_of(&self, port: i32) -> Option<u32> {
        let port = u16::try_from(port).ok()?;
        (self.first..=self.last)
            .contains(&port)
            .then(|| u32::from(port - self.first))
    }
}

impl Pool {
    /// A first guess for a dynamic allocation, from `random`: anywhere above the static band,
    /// or in the band when there is nothing above it.
    pub fn guess(&self, random: u64) -> u32 {
        let (start, len) = if self.size > self.band {
            (self.band, self.size - self.band)
        } else {
            (0, self.size)
        };
        start + (random % u64::from(len.max(1))) as u32
    }

    /// The first offset `is_free` accepts, searching above the static band from the offset
    /// `random` chooses, then the band; `None` when every offset is taken.
    pub fn first_free(&self, random: u64, is_free: impl Fn(u32) -> bool) -> Option<u32> {
        let above = self.size - self.band;
        let start = if above == 0 {
            0
        } else {
            (random % u64::from(above)) as u32
        };
        let upper = (0..above).map(|step| self.band + (start + step) % above);
        upper.chain(0..self.band).find(|offset| is_free(*offset))
    }
}

/// Kubernetes' static band: a sixteenth (IPs) or thirty-second (ports) of the range, at least
/// 16 and at most `cap`; none in a range smaller than 16.
fn static_band(size: u32, divisor: u32, cap: u32) -> u32 {
    if size < 16 {
        0
    } else {
        (size / divisor).clamp(16, cap)
    }
}

impl Default for ServiceCidr {
    fn default() -> Self {
        ServiceCidr {
            network: Ipv4Addr::new(10, 43, 0, 0),
            prefix: 16,
        }
    }
}

impl Default for NodePortRange {
    fn default() -> Self {
        NodePortRange {
            first: 30000,
            last: 32767,
        }
    }
}

impl FromStr for ServiceCidr {
    type Err = ServiceRangeError;

    fn from_str(text: &str) -> Result<Self, ServiceRangeError> {
        let not_a_cidr = || ServiceRangeError::NotACidr {
            text: text.to_string(),
        };
        let (address, prefix) = text.split_once('/').ok_or_else(not_a_cidr)?;
        let address: Ipv4Addr = match address.parse() {
            Ok(address) => address,
            Err(_) if address.parse::<Ipv6Addr>().is_ok() => {
                return Err(ServiceRangeError::Ipv6 {
                    text: text.to_string(),
                });
            }
            Err(_) => return Err(not_a_cidr()),
        };
        let prefix: u8 = prefix
            .parse()
            .ok()
            .filter(|prefix| *prefix <= 32)
            .ok_or_else(not_a_cidr)?;
        let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
        let network = Ipv4Addr::from(u32::from(address) & mask);
        if network != address {
            return Err(ServiceRangeError::HostBits {
                text: text.to_string(),
                network: format!("{network}/{prefix}"),
            });
        }
        if !(MIN_PREFIX..=MAX_PREFIX).contains(&prefix) {
            return Err(ServiceRangeError::Size {
                text: text.to_string(),
                prefix,
            });
        }
        Ok(ServiceCidr { network, prefix })
    }
}

impl FromStr for NodePortRange {
    type Err = ServiceRangeError;

    fn from_str(text: &str) -> Result<Self, ServiceRangeError> {
        let parsed = text.split_once('-').and_then(|(first, last)| {
            let first: u16 = first.trim().parse().ok()?;
            let last: u16 = last.trim().parse().ok()?;
            (first >= 1 && first <= last).then_some(NodePortRange { first, last })
        });
        parsed.ok_or_else(|| ServiceRangeError::NotAPortRange {
            text: text.to_string(),
        })
    }
}

impl fmt::Display for ServiceCidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

impl fmt::Display for NodePortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.first, self.last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cidr(text: &str) -> ServiceCidr {
        text.parse().unwrap()
    }

    #[test]
    fn the_defaults_are_k3s_ranges() {
        assert_eq!(ServiceCidr::default().to_string(), "10.43.0.0/16");
        assert_eq!(NodePortRange::default().to_string(), "30000-32767");
        assert_eq!(cidr("10.43.0.0/16"), ServiceCidr::default());
        assert_eq!(
            "30000-32767".parse::<NodePortRange>(),
            Ok(NodePortRange::default())
        );
    }

    #[test]
    fn bad_ranges_say_what_is_wrong() {
        let error = |text: &str| text.parse::<ServiceCidr>().unwrap_err().to_string();
        assert_eq!(
            error("10.43.0.0"),
            "service CIDR \"10.43.0.0\" is not an IPv4 network such as 10.43.0.0/16"
        );
        for bad in ["10.43.0.0/33", "10.43.0/16", "10.43.0.0/x", ""] {
            assert!(error(bad).contains("is not an IPv4 network"), "{bad}");
        }
        assert_eq!(
            error("fd00:43::/112"),
            "service CIDR \"fd00:43::/112\" is IPv6; flotilla's Services are single-stack IPv4"
        );
        assert_eq!(
            error("10.43.0.1/16"),
            "service CIDR \"10.43.0.1/16\" has host bits set; did you mean 10.43.0.0/16?"
        );
        assert_eq!(
            error("10.0.0.0/8"),
            "service CIDR \"10.0.0.0/8\" is too large: the prefix length must be between /12 \
             and /29"
        );
        assert!(error("10.43.0.0/30").contains("is too small"));
        for bad in ["30000", "32767-30000", "0-10", "30000-70000", "a-b"] {
            let error = bad.parse::<NodePortRange>().unwrap_err();
            assert_eq!(
                error.to_string(),
                format!("node port range {bad:?} is not a range of ports such as 30000-32767")
            );
        }
        assert!("8080-8080".parse::<NodePortRange>().is_ok());
    }

    #[test]
    fn addresses_and_offsets_skip_the_network_and_broadcast_addresses() {
        let range = cidr("10.43.0.0/16");
        assert_eq!(
            range.pool(),
            Pool {
                size: 65534,
                band: 256
            }
        );
        assert_eq!(range.kubernetes_service_ip(), Ipv4Addr::new(10, 43, 0, 1));
        assert_eq!(range.address(9), Ipv4Addr::new(10, 43, 0, 10));
        assert_eq!(range.offset_of(Ipv4Addr::new(10, 43, 0, 10)), Some(9));
        assert_eq!(
            range.offset_of(Ipv4Addr::new(10, 43, 255, 254)),
            Some(65533)
        );
        for outside in [
            [10, 43, 0, 0],
            [10, 43, 255, 255],
            [10, 44, 0, 1],
            [10, 42, 9, 9],
        ] {
            assert_eq!(
                range.offset_of(Ipv4Addr::from(outside)),
                None,
                "{outside:?}"
            );
        }
        let small = cidr("192.168.7.8/29");
        assert_eq!(small.pool(), Pool { size: 6, band: 0 });
        assert_eq!(small.address(5), Ipv4Addr::new(192, 168, 7, 14));
    }

    #[test]
    fn ports_and_offsets() {
        let range = NodePortRange::default();
        assert_eq!(
            range.pool(),
            Pool {
                size: 2768,
                band: 86
            }
        );
        assert_eq!(range.port(0), 30000);
        assert_eq!(range.port(2767), 32767);
        assert_eq!(range.offset_of(30080), Some(80));
        assert_eq!(range.offset_of(29999), None);
        assert_eq!(range.offset_of(32768), None);
        assert_eq!(range.offset_of(-1), None);
    }

    #[test]
    fn dynamic_picks_stay_above_the_static_band_until_it_alone_is_left() {
        let pool = Pool {
            size: 100,
            band: 16,
        };
        for random in [0, 1, 83, 84, 12_345, u64::MAX] {
            let guess = pool.guess(random);
            assert!((16..100).contains(&guess), "{random}: {guess}");
        }
        assert_eq!(pool.first_free(0, |offset| offset != 16), Some(17));
        assert_eq!(pool.first_free(83, |_| true), Some(99));
        // Above the band full: the band, from its start.
        assert_eq!(
            pool.first_free(7, |offset| offset < 16 && offset > 2),
            Some(3)
        );
        assert_eq!(pool.first_free(7, |_| false), None);
        let tiny = Pool { size: 6, band: 0 };
        assert!(tiny.guess(u64::MAX) < 6);
        assert_eq!(tiny.first_free(4, |offset| offset != 4), Some(5));
    }
}
