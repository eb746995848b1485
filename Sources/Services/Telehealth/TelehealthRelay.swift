import Contracts
import Foundation
public import LedgerCore

/// Relays a telehealth session's sealed messages between its participants. The node never holds
/// the session key (it is HPKE-wrapped to each party), so what it relays is ciphertext; it keeps
/// messages in memory only, for sessions the chain shows open or active, and forgets a session's
/// messages once the chain shows it ended. Bounded: 2,000 messages and 16 MiB per session, 1 MiB
/// per message, 256 sessions.
public actor TelehealthRelay {
    /// Largest sealed message.
    public static let messageBytesMax = 1 << 20
    /// Most messages kept per session.
    public static let messagesPerSessionMax = 2_000
    /// Most bytes kept per session.
    public static let bytesPerSessionMax = 16 << 20
    /// Most sessions relayed at once.
    public static let sessionsMax = 256

    /// One relayed message: its position, who sent it, their sequence number and the sealed bytes.
    public struct Message: Sendable {
        public let index: Int
        public let sender: IdentityID
        public let sequence: UInt64
        public let sealed: [UInt8]
        public let receivedMs: Int64
    }

    /// Why a message was not relayed.
    public enum RelayError: Error, Equatable, CustomStringConvertible {
        case tooLarge, sessionFull, tooManySessions, outOfOrder(expected: UInt64)
        public var description: String {
            switch self {
            case .tooLarge: "a sealed message is at most \(TelehealthRelay.messageBytesMax) bytes"
            case .sessionFull: "the session holds \(TelehealthRelay.messagesPerSessionMax) messages or \(TelehealthRelay.bytesPerSessionMax) bytes; end it and open a new one"
            case .tooManySessions: "the relay serves \(TelehealthRelay.sessionsMax) sessions at once; try again later"
            case .outOfOrder(let expected): "this sender's next sequence number is \(expected)"
            }
        }
    }

    /// One session's relayed messages, their total size and each sender's next sequence number.
    private struct Log {
        var messages: [Message] = []
        var bytes = 0
        var next: [IdentityID: UInt64] = [:]
    }

    private var sessions: [Hash256: Log] = [:]

    public init() {}

    /// Appends a sealed message; each sender's sequence numbers start at 0 and go up by one.
    public func post(_ session: Hash256, sender: IdentityID, sequence: UInt64, sealed: [UInt8], nowMs: Int64) throws(RelayError) -> Int {
        guard sealed.count <= Self.messageBytesMax else { throw .tooLarge }
        if sessions[session] == nil, sessions.count >= Self.sessionsMax { throw .tooManySessions }
        // Read the counts without copying the log, then append in place.
        let index = sessions[session]?.messages.count ?? 0
        let expected = sessions[session]?.next[sender] ?? 0
        guard sequence == expected else { throw .outOfOrder(expected: expected) }
        guard index < Self.messagesPerSessionMax, (sessions[session]?.bytes ?? 0) + sealed.count <= Self.bytesPerSessionMax else {
            throw .sessionFull
        }
        sessions[session, default: Log()].messages.append(Message(index: index, sender: sender, sequence: sequence, sealed: sealed, receivedMs: nowMs))
        sessions[session]!.bytes += sealed.count
        sessions[session]!.next[sender] = expected + 1
        return index
    }

    /// Messages after `index` (exclusive), at most `limit`.
    public func messages(_ session: Hash256, after index: Int, limit: Int) -> [Message] {
        Array((sessions[session]?.messages ?? []).dropFirst(max(0, index + 1)).prefix(limit))
    }

    /// Drops an ended session's messages.
    public func forget(_ session: Hash256) { sessions[session] = nil }
}
