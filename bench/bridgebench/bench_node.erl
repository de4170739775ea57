%%% bench_node: the Erlang sender and receiver of bridgebench, the same on
%%% every path, and a tiny -epmd_module for the paths without an EPMD.
%%%
%%% Receiver: `-eval 'bench_node:receiver()'` registers bench_rx, which
%%% counts the bytes and messages of a throughput phase, answers the
%%% sender's syncs (its window) and echoes pings, also those of another
%%% sender during a throughput phase (the WAN bench's round trips under
%%% load). It prints READY.
%%%
%%% Sender: `-eval "bench_node:sender('rx@host', DurationMs, [1024, 65536],
%%% RttMax, WindowBytes)"` connects, then for each size sends binaries of
%%% that size for DurationMs with at most WindowBytes unacknowledged, then
%%% runs up to RttMax sequential ping-pongs (also bounded by DurationMs).
%%% It prints one line per result and halts:
%%%   CONNECT <µs>                         the first ping, connection setup included
%%%   BEGIN tput <size> | BEGIN rtt        a phase starts (the bench samples CPU)
%%%   TPUT <size> <bytes> <msgs> <µs>      delivered at the receiver, first to last message
%%%   RTT <count> <p50 µs> <p99 µs> <mean µs>
%%%   END                                  the phase ended
%%%   DONE
%%%
%%% As an -epmd_module (`-epmd_module bench_node`) it needs no EPMD: the
%%% node listens on `-bench_listen Port` (0: any) and finds every peer at
%%% `-bench_peer_addr Addr` (127.0.0.1 by default), port `-bench_peer_port
%%% Port`.
-module(bench_node).

-export([receiver/0, sender/5]).
-export([start_link/0, listen_port_please/2, register_node/2, register_node/3,
         address_please/3, port_please/2, port_please/3, names/0, names/1]).

%%%===================================================================
%%% Receiver
%%%===================================================================

-spec receiver() -> ok.
receiver() ->
    Pid = spawn(fun() -> rx_idle() end),
    true = register(bench_rx, Pid),
    io:format("READY~n"),
    ok.

rx_idle() ->
    receive
        {start, From} ->
            From ! started,
            rx_first(From);
        {ping, From, N} ->
            From ! {pong, N},
            rx_idle();
        _ ->
            rx_idle()
    end.

%% The clock starts at the first data message, which is not counted.
rx_first(From) ->
    receive
        {d, _Bin} ->
            rx_count(From, erlang:monotonic_time(microsecond), 0, 0, 0);
        {sync, From, Seq} ->
            From ! {ack, Seq},
            rx_first(From);
        {ping, Pinger, N} ->
            Pinger ! {pong, N},
            rx_first(From);
        {stop, From} ->
            From ! {result, 0, 0, 0},
            rx_idle()
    end.

rx_count(From, T0, Bytes, Msgs, TLast) ->
    receive
        {d, Bin} ->
            rx_count(From, T0, Bytes + byte_size(Bin), Msgs + 1, erlang:monotonic_time(microsecond));
        {sync, From, Seq} ->
            From ! {ack, Seq},
            rx_count(From, T0, Bytes, Msgs, TLast);
        {ping, Pinger, N} ->
            Pinger ! {pong, N},
            rx_count(From, T0, Bytes, Msgs, TLast);
        {stop, From} ->
            From ! {result, Bytes, Msgs, max(TLast - T0, 0)},
            rx_idle()
    end.

%%%===================================================================
%%% Sender
%%%===================================================================

-spec sender(node(), pos_integer(), [pos_integer()], non_neg_integer(), pos_integer()) -> no_return().
sender(Node, DurMs, Sizes, RttMax, Window) ->
    try
        T0 = erlang:monotonic_time(microsecond),
        pong = net_adm:ping(Node),
        io:format("CONNECT ~b~n", [erlang:monotonic_time(microsecond) - T0]),
        Rx = {bench_rx, Node},
        [tput(Rx, Size, DurMs, Window) || Size <- Sizes],
        RttMax > 0 andalso rtt(Rx, RttMax, DurMs),
        io:format("DONE~n"),
        halt(0)
    catch
        C:E:S ->
            io:format("CRASH ~p:~p ~p~n", [C, E, S]),
            halt(3)
    end.

tput(Rx, Size, DurMs, Window) ->
    io:format("BEGIN tput ~b~n", [Size]),
    Bin = rand:bytes(Size),
    %% A sync every eighth of the window; at most the window unacknowledged.
    Every = max(1, (Window div 8) div Size),
    MaxOut = max(2 * Every, Window div Size),
    Rx ! {start, self()},
    receive started -> ok after 30000 -> exit(no_start) end,
    Deadline = erlang:monotonic_time(millisecond) + DurMs,
    send_loop(Rx, Bin, Every, MaxOut, Deadline, 0, 0),
    Rx ! {stop, self()},
    receive
        {result, Bytes, Msgs, Us} ->
            io:format("TPUT ~b ~b ~b ~b~n", [Size, Bytes, Msgs, Us])
    after 60000 -> exit(no_result)
    end,
    flush_acks(),
    io:format("END~n").

%% Sent and Acked count messages; a sync goes after every Every messages
%% and carries the count sent so far.
send_loop(Rx, Bin, Every, MaxOut, Deadline, Sent, Acked) when Sent - Acked >= MaxOut ->
    receive
        {ack, N} -> send_loop(Rx, Bin, Every, MaxOut, Deadline, Sent, max(N, Acked))
    after 30000 -> exit(no_ack)
    end;
send_loop(Rx, Bin, Every, MaxOut, Deadline, Sent, Acked) ->
    send_n(Rx, Bin, Every),
    Sent1 = Sent + Every,
    Rx ! {sync, self(), Sent1},
    case erlang:monotonic_time(millisecond) >= Deadline of
        true -> ok;
        false -> send_loop(Rx, Bin, Every, MaxOut, Deadline, Sent1, drain_acks(Acked))
    end.

send_n(_Rx, _Bin, 0) -> ok;
send_n(Rx, Bin, N) -> Rx ! {d, Bin}, send_n(Rx, Bin, N - 1).

drain_acks(Acked) ->
    receive {ack, N} -> drain_acks(max(N, Acked)) after 0 -> Acked end.

flush_acks() ->
    receive {ack, _} -> flush_acks() after 0 -> ok end.

rtt(Rx, Max, DurMs) ->
    io:format("BEGIN rtt~n"),
    Deadline = erlang:monotonic_time(millisecond) + DurMs,
    Ts = ping_loop(Rx, Max, Deadline, 0, []),
    Sorted = lists:sort(Ts),
    N = length(Sorted),
    P = fun(Q) -> lists:nth(max(1, min(N, ceil(Q * N))), Sorted) end,
    io:format("RTT ~b ~b ~b ~b~n", [N, P(0.5), P(0.99), lists:sum(Sorted) div max(N, 1)]),
    io:format("END~n").

ping_loop(_Rx, Max, _Deadline, Max, Acc) ->
    Acc;
ping_loop(Rx, Max, Deadline, I, Acc) ->
    T0 = erlang:monotonic_time(nanosecond),
    Rx ! {ping, self(), I},
    receive {pong, I} -> ok after 30000 -> exit(no_pong) end,
    T = (erlang:monotonic_time(nanosecond) - T0) div 1000,
    %% Check the clock every 64 round trips.
    case I band 63 =:= 63 andalso erlang:monotonic_time(millisecond) >= Deadline of
        true -> [T | Acc];
        false -> ping_loop(Rx, Max, Deadline, I + 1, [T | Acc])
    end.

%%%===================================================================
%%% -epmd_module: no EPMD, fixed ports
%%%===================================================================

start_link() -> ignore.

listen_port_please(_Name, _Host) -> {ok, int_arg(bench_listen, 0)}.

register_node(Name, Port) -> register_node(Name, Port, inet_tcp).

%% Any creation but 0..3 will do: nothing else registers this name.
register_node(_Name, _Port, _Driver) -> {ok, 4 + rand:uniform(1 bsl 30)}.

address_please(_Name, _Host, _Family) ->
    {ok, Addr} = inet:parse_address(str_arg(bench_peer_addr, "127.0.0.1")),
    {ok, Addr, int_arg(bench_peer_port, 0), 6}.

port_please(_Name, _Host) -> {port, int_arg(bench_peer_port, 0), 6}.

port_please(Name, Host, _Timeout) -> port_please(Name, Host).

names() -> {error, address}.

names(_Host) -> {error, address}.

int_arg(Name, Default) ->
    list_to_integer(str_arg(Name, integer_to_list(Default))).

str_arg(Name, Default) ->
    case init:get_argument(Name) of
        {ok, [[V | _] | _]} -> V;
        _ -> Default
    end.
