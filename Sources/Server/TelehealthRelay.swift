import Contracts
import Foundation
import LedgerCore

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

    private var sessions: [Hash256: [Message]] = [:]
    private var bytes: [Hash256: Int] = [:]

    public init() {}

    /// Appends a sealed message; each sender's sequence numbers start at 0 and go up by one.
    public func post(_ session: Hash256, sender: IdentityID, sequence: UInt64, sealed: [UInt8], nowMs: Int64) throws(RelayError) -> Int {
        guard sealed.count <= Self.messageBytesMax else { throw .tooLarge }
        if sessions[session] == nil, sessions.count >= Self.sessionsMax { throw .tooManySessions }
        var messages = sessions[session] ?? []
        let expected = UInt64(messages.filter { $0.sender == sender }.count)
        guard sequence == expected else { throw .outOfOrder(expected: expected) }
        guard messages.count < Self.messagesPerSessionMax, (bytes[session] ?? 0) + sealed.count <= Self.bytesPerSessionMax else {
            throw .sessionFull
        }
        let message = Message(index: messages.count, sender: sender, sequence: sequence, sealed: sealed, receivedMs: nowMs)
        messages.append(message)
        sessions[session] = messages
        bytes[session, default: 0] += sealed.count
        return message.index
    }

    /// Messages after `index` (exclusive), at most `limit`.
    public func messages(_ session: Hash256, after index: Int, limit: Int) -> [Message] {
        Array((sessions[session] ?? []).dropFirst(max(0, index + 1)).prefix(limit))
    }

    /// Drops an ended session's messages.
    public func forget(_ session: Hash256) {
        sessions[session] = nil
        bytes[session] = nil
    }
}
