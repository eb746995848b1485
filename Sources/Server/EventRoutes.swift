import Contracts
import Foundation
import HTTPTypes
import Hummingbird
import LedgerCore
import NIOCore
import Services

/// `GET /v1/events`: a server-sent event stream (`text/event-stream`) of what the authenticated
/// identity may see as it happens (`LedgerEvents`): `event: transaction` and `event: access`, each
/// `data:` one line of JSON, each `id:` a position a reconnecting client sends back as
/// `Last-Event-ID` to receive what it missed. A comment line every 15 s keeps the connection
/// open; a stream ends when the access token it was opened with would expire (the client
/// reconnects with a fresh one), or earlier after `max_events` events or `seconds` seconds (for
/// scripts: `curl -N '…/v1/events?max_events=1'` waits for the next event).
enum EventRoutes {
    /// Streams open at once, in all and per identity (429 past them; `EventStreamSlots`, shared with the portal's stream).
    static var streamsMax: Int { EventStreamSlots.streamsMax }
    static var streamsPerIdentityMax: Int { EventStreamSlots.streamsPerIdentityMax }

    static func add(to group: RouterGroup<LedgerRequestContext>, _ services: ServerServices) {
        group.get("events") { request, context in
            let requester = try context.requester()
            let resume = LedgerEvents.position(HTTPField.Name("Last-Event-ID").flatMap { request.headers[$0] })
            let seconds = Int(try request.optionalInteger("seconds", in: 1...UInt64(ServerLimits.accessTokenSeconds)) ?? UInt64(ServerLimits.accessTokenSeconds))
            let maxEvents = Int(try request.optionalInteger("max_events", in: 1...10_000) ?? UInt64(Int.max))
            // Taken after the query is checked: a refused query holds no slot.
            guard services.eventStreams.open(requester.id) else {
                throw APIError(.tooManyRequests, "too-many-streams",
                               "at most \(streamsPerIdentityMax) event streams per identity and \(streamsMax) in all are open at once")
            }
            let lines = await LedgerEvents.serverSentEvents(node: services.node, access: services.access, requester: requester, resume: resume,
                                                            seconds: seconds, maxEvents: maxEvents)
            var headers = HTTPFields()
            headers[.contentType] = "text/event-stream"
            headers[.cacheControl] = "no-store"
            return Response(status: .ok, headers: headers, body: ResponseBody { writer in
                defer { services.eventStreams.close(requester.id) }
                for await line in lines { try await writer.write(ByteBuffer(string: line)) }
                try await writer.finish(nil)
            })
        }
    }
}
