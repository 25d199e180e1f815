//! The TCP transport's one adjustment: every dial comes from a fresh local port.
//!
//! libp2p's TCP transport, by default, dials from the port it listens on (so that a
//! remote's identify sees the address it could dial back). When two nodes dial each other
//! in the same instant, which happens whenever mDNS reports each to the other at once,
//! those two dials are one TCP connection (a TCP simultaneous open, from port to port).
//! Both ends then believe they dialed, both start the Noise handshake as its initiator,
//! the handshake fails, and neither dial connects. mDNS reports a peer again only at its
//! next query, minutes later, so the two councils stayed apart on their LAN.
//!
//! councilnet has no use for the reused port: peers' addresses come from configuration,
//! mDNS and the routing table, and no hole punching is done. [`FreshPort`] wraps a
//! transport and turns every [`PortUse::Reuse`] dial into [`PortUse::New`], whoever asked
//! for it (the node, Kademlia, or the swarm's own redials).

use std::pin::Pin;
use std::task::{Context, Poll};

use libp2p::core::transport::{DialOpts, ListenerId, PortUse, TransportError, TransportEvent};
use libp2p::core::Transport;
use libp2p::Multiaddr;

/// A transport whose dials never share the local port it listens on (see the module
/// documentation for why).
#[derive(Debug, Clone, Default)]
pub struct FreshPort<T>(pub T);

impl<T: Transport + Unpin> Transport for FreshPort<T> {
    type Output = T::Output;
    type Error = T::Error;
    type ListenerUpgrade = T::ListenerUpgrade;
    type Dial = T::Dial;

    fn listen_on(&mut self, id: ListenerId, addr: Multiaddr) -> Result<(), TransportError<Self::Error>> {
        self.0.listen_on(id, addr)
    }

    fn remove_listener(&mut self, id: ListenerId) -> bool {
        self.0.remove_listener(id)
    }

    fn dial(&mut self, addr: Multiaddr, opts: DialOpts) -> Result<Self::Dial, TransportError<Self::Error>> {
        self.0.dial(addr, DialOpts { port_use: PortUse::New, ..opts })
    }

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<TransportEvent<Self::ListenerUpgrade, Self::Error>> {
        Pin::new(&mut self.get_mut().0).poll(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use libp2p::core::Endpoint;
    use libp2p::multiaddr::Protocol;
    use libp2p::tcp;

    /// A transport listening on loopback, and the port it listens on.
    async fn listening<T: Transport + Unpin>(mut t: T) -> (T, u16)
    where
        T::Error: std::fmt::Debug,
    {
        t.listen_on(ListenerId::next(), "/ip4/127.0.0.1/tcp/0".parse().unwrap()).unwrap();
        match futures::future::poll_fn(|cx| Pin::new(&mut t).poll(cx)).await {
            TransportEvent::NewAddress { listen_addr, .. } => {
                let port = listen_addr.iter().find_map(|p| match p {
                    Protocol::Tcp(p) => Some(p),
                    _ => None,
                });
                (t, port.expect("a TCP listen address"))
            }
            other => panic!("expected the listen address first, got {other:?}"),
        }
    }

    /// Dials `target` through `t` asking to reuse the port (what the swarm asks by
    /// default), and returns the port the connection came from, as `sink` saw it.
    async fn dial_source_port<T>(t: &mut T, sink: &tokio::net::TcpListener) -> u16
    where
        T: Transport,
        T::Dial: Send + 'static,
        T::Output: Send + 'static,
        T::Error: std::fmt::Debug + Send,
    {
        let target: Multiaddr = format!("/ip4/127.0.0.1/tcp/{}", sink.local_addr().unwrap().port()).parse().unwrap();
        let dial = t.dial(target, DialOpts { role: Endpoint::Dialer, port_use: PortUse::Reuse }).unwrap();
        // The dial is driven to completion in the background; the accept below is what
        // the test waits on.
        tokio::spawn(async move {
            let _connection = dial.await;
            std::future::pending::<()>().await
        });
        let (_, from) = sink.accept().await.unwrap();
        from.port()
    }

    /// The failure this module prevents, shown on the plain transport: a dial asking to
    /// reuse the port leaves from the listening port (two such dials between two nodes at
    /// once are one simultaneous open). Through `FreshPort` the same request leaves from
    /// another port, so the two dials are two connections.
    #[tokio::test]
    async fn dials_leave_from_a_port_other_than_the_listening_one() {
        let sink = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();

        let (mut plain, plain_port) = listening(tcp::tokio::Transport::new(tcp::Config::default())).await;
        assert_eq!(
            dial_source_port(&mut plain, &sink).await,
            plain_port,
            "libp2p's TCP transport no longer dials from its listening port by default: is FreshPort still needed?"
        );

        let (mut fresh, fresh_port) = listening(FreshPort(tcp::tokio::Transport::new(tcp::Config::default()))).await;
        assert_ne!(
            dial_source_port(&mut fresh, &sink).await,
            fresh_port,
            "a FreshPort dial left from the listening port"
        );
    }
}
