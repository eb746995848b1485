#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Server
import Storage
import Testing

/// Security review finding 8 (timeouts): a half-sent request held its connection 95 s.
@Suite("Connections: a stalled request is closed after the idle timeout", .serialized)
struct ConnectionTimeoutTests {
    /// Sends `text` on a fresh connection and waits (at most `waitSeconds`) for the server to close
    /// it; returns how long that took, or nil if it stayed open.
    static func secondsUntilClosed(port: Int, sending text: String, waitSeconds: Int) -> Double? {
        guard let fd = loopbackSocket(port: port, waitSeconds: waitSeconds) else { return nil }
        defer { close(fd) }
        let start = Date()
        _ = text.withCString { send(fd, $0, strlen($0), 0) }
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n == 0 { return Date().timeIntervalSince(start) }  // closed by the server
            if n < 0 { return nil }  // our own wait ran out: still open
        }
    }

    @Test(.timeLimit(.minutes(3)))
    func aHalfSentRequestIsClosed() async throws {
        try await ServerFixture.with { fixture in
            try await LedgerServer.withServerInProcess(idleTimeout: .seconds(1), services: { _ in fixture.services }) { port in
                // The request line and one header, never the blank line that ends the head.
                let halfSent = try await blockingCall {
                    Self.secondsUntilClosed(port: port, sending: "GET /healthz HTTP/1.1\r\nHost: x\r\n", waitSeconds: 10)
                }
                #expect(halfSent.map { $0 < 5 } == true, "a half-sent request stayed open: \(String(describing: halfSent))")
                // An idle connection (nothing sent) is closed too.
                let idle = try await blockingCall { Self.secondsUntilClosed(port: port, sending: "", waitSeconds: 10) }
                #expect(idle.map { $0 < 5 } == true, "an idle connection stayed open: \(String(describing: idle))")
            }
        }
    }
}

/// A TCP socket connected to 127.0.0.1:`port` whose reads give up after `waitSeconds`, or nil;
/// the caller closes it.
func loopbackSocket(port: Int, waitSeconds: Int) -> Int32? {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return nil }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = UInt16(port).bigEndian
    _ = inet_pton(AF_INET, "127.0.0.1", &address.sin_addr)
    let connected = withUnsafeMutablePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
    }
    guard connected else {
        close(fd)
        return nil
    }
    var limit = timeval(tv_sec: waitSeconds, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
    return fd
}
