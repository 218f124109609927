import Foundation
import Testing
import Training

/// transformers' lr lambdas, transcribed (optimization.py).
enum TransformersSchedules {
  static func constant(_ step: Int, warmup: Int) -> Double {
    step < warmup ? Double(step) / Double(max(1, warmup)) : 1
  }
  static func linear(_ step: Int, warmup: Int, total: Int) -> Double {
    if step < warmup { return Double(step) / Double(max(1, warmup)) }
    return max(0, Double(total - step) / Double(max(1, total - warmup)))
  }
  static func cosine(_ step: Int, warmup: Int, total: Int, cycles: Double = 0.5, minLRRate: Double = 0) -> Double {
    if step < warmup { return Double(step) / Double(max(1, warmup)) }
    let progress = Double(step - warmup) / Double(max(1, total - warmup))
    var factor = 0.5 * (1 + cos(Double.pi * cycles * 2 * progress))
    factor = factor * (1 - minLRRate) + minLRRate
    return max(0, factor)
  }
}

@Suite struct OptimScheduleTests {
  static let peak = 2e-4

  @Test(arguments: [(0, 100), (10, 110), (7, 20), (1, 2)])
  func matchesTransformersAtKeySteps(warmup: Int, total: Int) throws {
    let steps = Set([0, 1, max(0, warmup - 1), warmup, warmup + 1, (warmup + total) / 2, total - 1, total])
    for step in steps.sorted() {
      let constant = try LearningRateSchedule(kind: .constant, peak: Self.peak, warmupSteps: warmup, totalSteps: total)
      let linear = try LearningRateSchedule(kind: .linear, peak: Self.peak, warmupSteps: warmup, totalSteps: total)
      let cosine = try LearningRateSchedule(kind: .cosine, peak: Self.peak, warmupSteps: warmup, totalSteps: total)
      let floor = try LearningRateSchedule(
        kind: .cosine, peak: Self.peak, warmupSteps: warmup, totalSteps: total, minRatio: 0.1)
      #expect(constant.lr(step) == Self.peak * TransformersSchedules.constant(step, warmup: warmup))
      #expect(linear.lr(step) == Self.peak * TransformersSchedules.linear(step, warmup: warmup, total: total))
      #expect(cosine.lr(step) == Self.peak * TransformersSchedules.cosine(step, warmup: warmup, total: total))
      #expect(
        floor.lr(step) == Self.peak * TransformersSchedules.cosine(step, warmup: warmup, total: total, minLRRate: 0.1))
    }
  }

  @Test func literalValuesAtStartWarmupEndMiddleAndEnd() throws {
    let linear = try LearningRateSchedule(kind: .linear, peak: 1e-3, warmupSteps: 10, totalSteps: 110)
    let cosine = try LearningRateSchedule(kind: .cosine, peak: 1e-3, warmupSteps: 10, totalSteps: 110)
    let constant = try LearningRateSchedule(kind: .constant, peak: 1e-3, warmupSteps: 10, totalSteps: 110)
    for schedule in [linear, cosine, constant] {
      #expect(schedule.lr(0) == 0)  // transformers: the first step of a warmup has lr 0
      #expect(abs(schedule.lr(5) - 5e-4) < 1e-15)
      #expect(schedule.lr(10) == 1e-3)
    }
    #expect(abs(linear.lr(60) - 5e-4) < 1e-15)
    #expect(abs(cosine.lr(60) - 5e-4) < 1e-15)
    #expect(constant.lr(60) == 1e-3)
    #expect(linear.lr(110) == 0)
    #expect(abs(cosine.lr(110)) < 1e-18)
    #expect(linear.lr(200) == 0)  // clamped past the end
    let floored = try LearningRateSchedule(kind: .cosine, peak: 1e-3, warmupSteps: 10, totalSteps: 110, minRatio: 0.1)
    #expect(abs(floored.lr(110) - 1e-4) < 1e-15)
    let linearFloor = try LearningRateSchedule(kind: .linear, peak: 1e-3, totalSteps: 100, minRatio: 0.2)
    #expect(abs(linearFloor.lr(100) - 2e-4) < 1e-15)
    #expect(linearFloor.lr(0) == 1e-3)
  }

  @Test func noWarmupStartsAtPeak() throws {
    for kind in LearningRateSchedule.Kind.allCases {
      #expect(try LearningRateSchedule(kind: kind, peak: 3e-4, totalSteps: 50).lr(0) == 3e-4)
    }
  }

  @Test func invalidSettingsAreRejected() {
    #expect(throws: TrainingError.self) { try LearningRateSchedule(kind: .linear, peak: 0, totalSteps: 10) }
    #expect(throws: TrainingError.self) { try LearningRateSchedule(kind: .linear, peak: 1, totalSteps: 0) }
    #expect(throws: TrainingError.self) {
      try LearningRateSchedule(kind: .linear, peak: 1, warmupSteps: -1, totalSteps: 10)
    }
    #expect(throws: TrainingError.self) {
      try LearningRateSchedule(kind: .cosine, peak: 1, totalSteps: 10, minRatio: 1.5)
    }
  }
}
