"""What 'reduced dose' and 'discontinue' mean for one patient, from the protocol's ladders."""

from __future__ import annotations

from domain.protocol import AgentDose, Protocol


def reducible_agents(protocol: Protocol) -> list[str]:
    """Agents whose reduction ladder has more than one step (the ones the rules reduce)."""
    return [agent for agent, ladder in protocol.reduction_ladders.items() if len(ladder) > 1]


def can_reduce(protocol: Protocol, doses: list[AgentDose]) -> bool:
    """True when every reducible agent still has a lower step on its ladder."""
    by_agent = {d.agent: d for d in doses}
    for agent in reducible_agents(protocol):
        ladder = protocol.reduction_ladders[agent]
        current = by_agent.get(agent)
        if current is None or current not in ladder or ladder.index(current) == len(ladder) - 1:
            return False
    return bool(reducible_agents(protocol))


def reduced(protocol: Protocol, doses: list[AgentDose]) -> list[AgentDose]:
    """The doses one step down each reducible agent's ladder (callers check can_reduce first)."""
    reducible = set(reducible_agents(protocol))
    result = []
    for dose in doses:
        if dose.agent in reducible:
            ladder = protocol.reduction_ladders[dose.agent]
            dose = ladder[ladder.index(dose) + 1]
        result.append(dose)
    return result


def agents_to_discontinue(protocol: Protocol, doses: list[AgentDose]) -> list[str]:
    """Every agent when the protocol stops all drugs together, else the reducible ones."""
    if protocol.ladder_exhausted == "discontinue_all_agents" or not reducible_agents(protocol):
        return [d.agent for d in doses]
    return reducible_agents(protocol)
