import Contracts
import Foundation
import HTTPTypes
import Hummingbird
import LedgerCore
import NIOCore
import Services
import Synchronization

/// `GET /v1/events`: a server-sent event stream (`text/event-stream`) of what the authenticated
/// identity may see as it happens (`LedgerEvents`): `event: transaction` and `event: access`, each
/// `data:` one line of JSON, each `id:` a position a reconnecting client sends back as
/// `Last-Event-ID` to receive what it missed. A comment line every 15 s keeps the connection
/// open; a stream ends when the access token it was opened with would expire (the client
/// reconnects with a fresh one), or earlier after `max_events` events or `seconds` seconds (for
/// scripts: `curl -N '…/v1/events?max_events=1'` waits for the next event).
enum EventRoutes {
    /// Streams open at once, in all and per identity (429 past them).
    static let streamsMax = 256
    static let streamsPerIdentityMax = 4
    /// Seconds between keep-alive comments (below the server's idle timeout).
    static let heartbeatSeconds = 15

    static func add(to group: RouterGroup<LedgerRequestContext>, _ services: ServerServices) {
        group.get("events") { request, context in
            let requester = try context.requester()
            guard services.eventStreams.open(requester.id) else {
                throw APIError(.tooManyRequests, "too-many-streams",
                               "at most \(streamsPerIdentityMax) event streams per identity and \(streamsMax) in all are open at once")
            }
            let resume = LedgerEvents.position(HTTPField.Name("Last-Event-ID").flatMap { request.headers[$0] })
            let events = await LedgerEvents.stream(node: services.node, access: services.access, requester: requester, resume: resume)
            let seconds = Int(try request.optionalInteger("seconds", in: 1...UInt64(ServerLimits.accessTokenSeconds)) ?? UInt64(ServerLimits.accessTokenSeconds))
            let maxEvents = Int(try request.optionalInteger("max_events", in: 1...10_000) ?? UInt64(Int.max))
            var headers = HTTPFields()
            headers[.contentType] = "text/event-stream"
            headers[.cacheControl] = "no-store"
            return Response(status: .ok, headers: headers, body: ResponseBody { writer in
                defer { services.eventStreams.close(requester.id) }
                // Events and keep-alives, in one sequence, for as long as a token lives.
                let (lines, sink) = AsyncStream.makeStream(of: String.self, bufferingPolicy: .bufferingOldest(LedgerEvents.replayMax * 4))
                let feeder = Task {
                    await withTaskGroup(of: Void.self) { group in
                        group.addTask {
                            var sent = 0
                            for await event in events {
                                sink.yield("id: \(event.id)\nevent: \(event.kind)\ndata: \(event.json)\n\n")
                                sent += 1
                                if sent >= maxEvents { return }
                            }
                        }
                        group.addTask {
                            var elapsed = 0
                            while elapsed < seconds, (try? await Task.sleep(for: .seconds(min(heartbeatSeconds, seconds - elapsed)))) != nil {
                                elapsed += min(heartbeatSeconds, seconds - elapsed)
                                if elapsed < seconds { sink.yield(": keep-alive\n\n") }
                            }
                        }
                        await group.next()
                        group.cancelAll()
                    }
                    sink.finish()
                }
                defer { feeder.cancel() }
                try await writer.write(ByteBuffer(string: "retry: 2000\n: CareLedger events for \(requester.id.hex)\n\n"))
                for await line in lines { try await writer.write(ByteBuffer(string: line)) }
                try await writer.finish(nil)
            })
        }
    }
}

/// Counts open event streams against `EventRoutes`' limits.
public final class EventStreamSlots: Sendable {
    private let open = Mutex<[IdentityID: Int]>([:])

    public init() {}

    func open(_ identity: IdentityID) -> Bool {
        open.withLock { counts in
            guard counts.values.reduce(0, +) < EventRoutes.streamsMax, counts[identity, default: 0] < EventRoutes.streamsPerIdentityMax else { return false }
            counts[identity, default: 0] += 1
            return true
        }
    }

    func close(_ identity: IdentityID) {
        open.withLock { counts in
            counts[identity, default: 1] -= 1
            if counts[identity] == 0 { counts[identity] = nil }
        }
    }
}
