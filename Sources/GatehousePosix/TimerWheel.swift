/// A timer owned by a connection (or another loop object) and re-armed as often as needed without
/// allocating: arming only moves it between wheel slots.
public final class LoopTimer {
    let action: () -> Void
    fileprivate(set) var deadline: Int64 = 0
    fileprivate var slot = -1
    fileprivate var indexInSlot = -1
    fileprivate var firePending = false

    /// `action` runs on the loop thread when the timer fires.
    public init(_ action: @escaping () -> Void) {
        self.action = action
    }

    public var isArmed: Bool { slot >= 0 || firePending }
}

/// A hashed timing wheel (Varghese & Lauck): O(1) arm and cancel; each loop iteration only visits the
/// slots whose ticks have passed. Timers further away than one revolution stay in their slot and are
/// skipped until their round comes.
final class TimerWheel {
    static let tickMilliseconds: Int64 = 10
    static let slotCount = 1024

    private var slots: [[LoopTimer]]
    private var currentTick: Int64
    private(set) var count = 0

    init(now: Int64) {
        slots = Array(repeating: [], count: Self.slotCount)
        currentTick = now / Self.tickMilliseconds
    }

    /// Arms (or re-arms) `timer` to fire at `deadline` (monotonic milliseconds).
    func arm(_ timer: LoopTimer, deadline: Int64) {
        cancel(timer)
        timer.deadline = deadline
        // The slot of the first tick at or after the deadline: when that slot is visited, `now` has
        // reached the deadline, so timers of the current round always fire on their visit.
        let tick = max((deadline + Self.tickMilliseconds - 1) / Self.tickMilliseconds, currentTick + 1)
        let slot = Int(tick % Int64(Self.slotCount))
        timer.slot = slot
        timer.indexInSlot = slots[slot].count
        slots[slot].append(timer)
        count += 1
    }

    func cancel(_ timer: LoopTimer) {
        timer.firePending = false
        guard timer.slot >= 0 else { return }
        remove(timer)
    }

    private func remove(_ timer: LoopTimer) {
        let s = timer.slot
        let i = timer.indexInSlot
        let last = slots[s].count - 1
        if i != last {
            let moved = slots[s][last]
            slots[s][i] = moved
            moved.indexInSlot = i
        }
        slots[s].removeLast()
        timer.slot = -1
        timer.indexInSlot = -1
        count -= 1
    }

    /// Fires every timer whose deadline is at or before `now`.
    func advance(now: Int64) {
        let target = now / Self.tickMilliseconds
        guard target > currentTick || count > 0 else { currentTick = max(currentTick, target); return }
        var due: [LoopTimer] = []
        let steps = min(target - currentTick, Int64(Self.slotCount))
        if steps > 0 {
            for step in 1...steps {
                let slot = Int((currentTick + step) % Int64(Self.slotCount))
                var i = 0
                while i < slots[slot].count {
                    let t = slots[slot][i]
                    if t.deadline <= now {
                        remove(t)
                        t.firePending = true
                        due.append(t)
                    } else {
                        i += 1
                    }
                }
            }
        }
        currentTick = max(currentTick, target)
        for t in due where t.firePending {
            t.firePending = false
            t.action()
        }
    }

    /// Milliseconds until the next non-empty slot's tick (-1: no timer armed), for epoll_wait.
    func millisecondsUntilNextTick(now: Int64) -> Int32 {
        guard count > 0 else { return -1 }
        for step in 1...Int64(Self.slotCount) {
            let tick = currentTick + step
            if !slots[Int(tick % Int64(Self.slotCount))].isEmpty {
                return Int32(clamping: max(0, tick * Self.tickMilliseconds - now))
            }
        }
        return Int32(clamping: Int64(Self.slotCount) * Self.tickMilliseconds)
    }
}
