#!/usr/bin/env escript
%% -*- erlang -*-
%%! -noshell
%%
%% Test-vector generator: RabbitMQ's own AMQP 0-9-1 codec (rabbit_common) as the oracle.
%%
%% Run from anywhere (paths are found relative to this script and via dpkg):
%%     escript tests/vectors/gen_erlang.escript
%% Writes erlang.json next to this script. Needs the Debian package
%% rabbitmq-server (it ships rabbit_common's .beam files; no broker is started).
%%
%% Every frame is built by rabbit_binary_generator / rabbit_framing_amqp_0_9_1
%% and decoded back with rabbit_framing_amqp_0_9_1 / rabbit_binary_parser; any
%% mismatch aborts the run (exit status 1).  Field names and types come from
%% amqp-protocol/spec/amqp0-9-1.extended.xml, parsed with xmerl.

-mode(compile).

%% Field positions of xmerl's #xmlElement{} and #xmlAttribute{} records (xmerl.hrl is
%% in erlang-dev, which need not be installed).
-define(EL_NAME(E), element(2, E)).
-define(EL_ATTRS(E), element(8, E)).
-define(EL_CONTENT(E), element(9, E)).
-define(ATTR_NAME(A), element(2, A)).
-define(ATTR_VALUE(A), element(9, A)).

-define(PROTO, rabbit_framing_amqp_0_9_1).

main(_Args) ->
    try run() of
        ok -> halt(0)
    catch
        Class:Reason:Stack ->
            io:format(standard_error, "gen_erlang FAILED: ~p:~p~n~p~n", [Class, Reason, Stack]),
            halt(1)
    end.

run() ->
    Ebin = string:trim(os:cmd("dpkg -L rabbitmq-server | grep -E 'rabbit_common-[^/]*/ebin$' | head -n 1")),
    case filelib:is_dir(Ebin) of
        true -> ok;
        false -> erlang:error({rabbit_common_ebin_not_found, Ebin})
    end,
    true = code:add_patha(Ebin),
    ok = application:load(rabbit_common),
    {ok, Vsn} = application:get_key(rabbit_common, vsn),
    Oracle = list_to_binary("rabbit_common " ++ Vsn),
    put(oracle, Oracle),
    Here = filename:dirname(filename:absname(escript:script_name())),
    Xml = filename:join([Here, "..", "..", "amqp-protocol", "spec", "amqp0-9-1.extended.xml"]),
    {Methods, Props} = parse_xml(Xml),
    put(xml_methods, Methods),
    put(xml_props, Props),
    MethodVs = [method_vector(Ch, Name, Vals, Desc) || {Ch, Name, Vals, Desc} <- method_specs()],
    HeaderVs = [header_vector(Ch, P, Body, Desc) || {Ch, P, Body, Desc} <- header_specs()],
    ContentVs = [content_vector(Ch, M, P, Body, FM, Desc) || {Ch, M, P, Body, FM, Desc} <- content_specs()],
    TableVs = [table_vector(T, Desc) || {T, Desc} <- table_specs()],
    %% coverage check: all 64 XML methods
    Covered = lists:usort([Name || {_, Name, _, _} <- method_specs()]),
    AllNames = lists:usort([N || {N, _} <- Methods]),
    case AllNames -- Covered of
        [] -> ok;
        Missing -> erlang:error({methods_not_covered, Missing})
    end,
    All = MethodVs ++ HeaderVs ++ ContentVs ++ TableVs,
    Out = filename:join(Here, "erlang.json"),
    ok = file:write_file(Out, json_lines(All)),
    io:format("wrote ~s: ~b method, ~b header, ~b content, ~b table vectors; "
              "method coverage ~b/~b (~s)~n",
              [filename:basename(Out), length(MethodVs), length(HeaderVs), length(ContentVs),
               length(TableVs), length(AllNames -- (AllNames -- Covered)), length(AllNames), Oracle]),
    ok.

%%--------------------------------------------------------------------------
%% XML: method name (Erlang atom) -> [{XmlFieldName, PrimitiveType}], basic properties

parse_xml(Path) ->
    {Doc, _} = xmerl_scan:file(Path, [{quiet, true}]),
    Elems = fun(E) -> [C || C <- ?EL_CONTENT(E), element(1, C) =:= xmlElement] end,
    Attr = fun(E, A) ->
                   case [?ATTR_VALUE(X) || X <- ?EL_ATTRS(E), element(1, X) =:= xmlAttribute,
                                           ?ATTR_NAME(X) =:= A] of
                       [V] -> V;
                       [] -> undefined
                   end
           end,
    Children = Elems(Doc),
    Domains = maps:from_list([{Attr(D, name), Attr(D, type)} || D <- Children, ?EL_NAME(D) =:= domain]),
    Resolve = fun Resolve(T) ->
                      case maps:get(T, Domains, T) of
                          T -> T;
                          T2 -> Resolve(T2)
                      end
              end,
    FieldOf = fun(F) ->
                      T = case Attr(F, domain) of
                              undefined -> Attr(F, type);
                              D -> D
                          end,
                      {list_to_binary(Attr(F, name)), list_to_atom(Resolve(T))}
              end,
    Classes = [C || C <- Children, ?EL_NAME(C) =:= class],
    Methods = [{list_to_atom(Attr(C, name) ++ "." ++ underscore(Attr(M, name))),
                [FieldOf(F) || F <- Elems(M), ?EL_NAME(F) =:= field]}
               || C <- Classes, M <- Elems(C), ?EL_NAME(M) =:= method],
    [Basic] = [C || C <- Classes, Attr(C, name) =:= "basic"],
    Props = [FieldOf(F) || F <- Elems(Basic), ?EL_NAME(F) =:= field],
    64 = length(Methods),
    14 = length(Props),
    {Methods, Props}.

underscore(S) -> [case C of $- -> $_; _ -> C end || C <- S].
hyphen(S) -> [case C of $_ -> $-; _ -> C end || C <- S].

%%--------------------------------------------------------------------------
%% vectors

method_vector(Ch, Name, Vals, Desc) ->
    Fields = proplists:get_value(Name, get(xml_methods)),
    Fields =/= undefined orelse erlang:error({unknown_method, Name}),
    length(Fields) =:= length(Vals) orelse erlang:error({arity, Name}),
    Rec = list_to_tuple([Name | Vals]),
    tuple_size(?PROTO:method_record(Name)) =:= tuple_size(Rec) orelse erlang:error({record_arity, Name}),
    Frame = iolist_to_binary(rabbit_binary_generator:build_simple_method_frame(Ch, Rec, ?PROTO)),
    %% decode back with the same oracle
    [{1, Ch, Payload}] = split_frames(Frame),
    <<ClassId:16, MethodId:16, Args/binary>> = Payload,
    {ClassId, MethodId} = ?PROTO:method_id(Name),
    Name = ?PROTO:lookup_method_name({ClassId, MethodId}),
    check(Name, Rec, ?PROTO:decode_method_fields(Name, Args)),
    {obj, [{oracle, get(oracle)}, {kind, <<"method">>}, {desc, Desc}, {channel, Ch}]
          ++ method_obj(Name, Vals)
          ++ [{frames, hex(Frame)}]}.

method_obj(Name, Vals) ->
    {ClassId, MethodId} = ?PROTO:method_id(Name),
    Fields = proplists:get_value(Name, get(xml_methods)),
    [{class_id, ClassId}, {method_id, MethodId},
     {name, list_to_binary(hyphen(atom_to_list(Name)))},
     {fields, [[FName, to_json(Type, V)] || {{FName, Type}, V} <- lists:zip(Fields, Vals)]}].

props_record(PropList) ->
    Names = [N || {N, _} <- get(xml_props)],
    [] = [K || {K, _} <- PropList, not lists:member(K, Names)],
    list_to_tuple(['P_basic' | [proplists:get_value(N, PropList, undefined) || N <- Names]]).

header_obj(P, BodySize) ->
    Props = lists:zip(get(xml_props), tl(tuple_to_list(P))),
    [{class_id, 60}, {weight, 0}, {body_size, BodySize},
     {properties, [[N, to_json(T, V)] || {{N, T}, V} <- Props, V =/= undefined]}].

%% Build [Header | BodyFrames] with the oracle and check everything decodes back.
content_frames(Ch, P, Frags, FrameMax) ->
    Content = {content, 60, P, none, none, Frags},
    Frames = rabbit_binary_generator:build_simple_content_frames(Ch, Content, FrameMax, ?PROTO),
    [HeaderFrame | BodyFrames] = Frames,
    HB = iolist_to_binary(HeaderFrame),
    [{2, Ch, <<60:16, 0:16, BodySize:64, PropsBin/binary>>}] = split_frames(HB),
    BodySize = iolist_size(Frags),
    check(properties, P, ?PROTO:decode_properties(60, PropsBin)),
    {HB, BodyFrames, BodySize}.

header_vector(Ch, PropList, Frags, Desc) ->
    P = props_record(PropList),
    {HB, _, BodySize} = content_frames(Ch, P, Frags, 0),
    {obj, [{oracle, get(oracle)}, {kind, <<"header">>}, {desc, Desc}, {channel, Ch}]
          ++ header_obj(P, BodySize) ++ [{frames, hex(HB)}]}.

content_vector(Ch, {Name, Vals}, PropList, Body, FrameMax, Desc) ->
    Rec = list_to_tuple([Name | Vals]),
    true = ?PROTO:method_has_content(Name),
    MF = iolist_to_binary(rabbit_binary_generator:build_simple_method_frame(Ch, Rec, ?PROTO)),
    P = props_record(PropList),
    {HB, BodyFrames, BodySize} = content_frames(Ch, P, [Body], FrameMax),
    BB = iolist_to_binary(BodyFrames),
    All = <<MF/binary, HB/binary, BB/binary>>,
    %% decode the whole sequence back
    [{1, Ch, <<C:16, M:16, Args/binary>>}, {2, Ch, _} | Bodies] = split_frames(All),
    check(Name, Rec, ?PROTO:decode_method_fields(?PROTO:lookup_method_name({C, M}), Args)),
    [] = [x || {T, Ch2, _} <- Bodies, T =/= 3 orelse Ch2 =/= Ch],
    Body = iolist_to_binary([Pl || {3, _, Pl} <- Bodies]),
    [] = [x || {3, _, Pl} <- Bodies, byte_size(Pl) > FrameMax - 8],
    BodySize = byte_size(Body),
    {obj, [{oracle, get(oracle)}, {kind, <<"content">>}, {desc, Desc}, {channel, Ch},
           {method, {obj, [{oracle, get(oracle)}, {kind, <<"method">>}, {desc, Desc}, {channel, Ch}]
                          ++ method_obj(Name, Vals)}},
           {header, {obj, [{oracle, get(oracle)}, {kind, <<"header">>}, {desc, Desc}, {channel, Ch}]
                          ++ header_obj(P, BodySize)}},
           {body, hex(Body)}, {frame_max, FrameMax}, {body_frames, length(Bodies)},
           {frames, hex(All)}]}.

%% generate_table/1 writes the entries only; the length-prefixed form is taken
%% from the oracle's encoding of a content header whose only property is
%% `headers` (flags 0x2000, then the table as it appears on the wire).
table_vector(Table, Desc) ->
    Inner = iolist_to_binary(rabbit_binary_generator:generate_table(Table)),
    P = props_record([{<<"headers">>, Table}]),
    <<16#2000:16, Bin/binary>> = iolist_to_binary(?PROTO:encode_properties(P)),
    <<Len:32, Inner/binary>> = Bin,
    Len = byte_size(Inner),
    check(table_props, P, ?PROTO:decode_properties(60, <<16#2000:16, Bin/binary>>)),
    check(table, Table, rabbit_binary_parser:parse_table(Inner)),
    {obj, [{oracle, get(oracle)}, {kind, <<"table">>}, {desc, Desc},
           {bytes, hex(Bin)}, {value, table_json(Table)}]}.

check(_What, X, X) -> ok;
check(What, Expected, Got) -> erlang:error({roundtrip_mismatch, What, Expected, Got}).

split_frames(<<>>) -> [];
split_frames(<<Type, Ch:16, Size:32, Payload:Size/binary, 206, Rest/binary>>) ->
    [{Type, Ch, Payload} | split_frames(Rest)].

%%--------------------------------------------------------------------------
%% Erlang value -> JSON value

to_json(bit, V) when is_boolean(V) -> V;
to_json(T, V) when is_integer(V), (T =:= octet orelse T =:= short orelse T =:= long
                                   orelse T =:= longlong orelse T =:= timestamp) -> V;
to_json(shortstr, V) when is_binary(V) -> hex(V);
to_json(longstr, V) when is_binary(V) -> hex(V);
to_json(table, V) when is_list(V) -> table_json(V).

table_json(Table) -> [[K, tag_of(T, V), field_json(T, V)] || {K, T, V} <- Table].

%% The tag is read from the oracle's own encoding of a one-entry table.
tag_of(Type, Value) ->
    <<1, "k", Tag, _/binary>> =
        iolist_to_binary(rabbit_binary_generator:generate_table([{<<"k">>, Type, Value}])),
    <<Tag>>.

field_json(Type, V) ->
    case tag_of(Type, V) of
        <<"t">> when is_boolean(V) -> V;
        <<T>> when is_integer(V), (T =:= $b orelse T =:= $B orelse T =:= $s orelse T =:= $u
                                   orelse T =:= $I orelse T =:= $i orelse T =:= $l orelse T =:= $T) -> V;
        <<T>> when is_float(V), (T =:= $f orelse T =:= $d) -> V;
        <<"D">> -> {Scale, Val} = V, true = Val >= 0 andalso Val < (1 bsl 32), [Scale, Val];
        <<T>> when is_binary(V), (T =:= $S orelse T =:= $x) -> hex(V);
        <<"A">> -> [[tag_of(T, X), field_json(T, X)] || {T, X} <- V];
        <<"F">> -> table_json(V);
        <<"V">> -> null
    end.

hex(Bin) -> list_to_binary([io_lib:format("~2.16.0b", [B]) || <<B>> <= Bin]).

%%--------------------------------------------------------------------------
%% tiny JSON writer: {obj, [{Key, V}]}, lists, binaries (strings), integers, floats, true/false/null

json_lines(Vs) ->
    Lines = [json(V) || V <- Vs],
    ["[\n", lists:join(",\n", Lines), "\n]\n"].

json({obj, KVs}) ->
    ["{", lists:join(", ", [[json(atom_to_binary(K, utf8)), ": ", json(V)] || {K, V} <- KVs]), "}"];
json(true) -> "true";
json(false) -> "false";
json(null) -> "null";
json(B) when is_binary(B) -> [$", [esc(C) || <<C>> <= B], $"];
json(I) when is_integer(I) -> integer_to_list(I);
json(F) when is_float(F) -> float_to_list(F, [short]);
json(L) when is_list(L) -> ["[", lists:join(", ", [json(X) || X <- L]), "]"].

esc($") -> "\\\"";
esc($\\) -> "\\\\";
esc(C) when C < 32 -> io_lib:format("\\u~4.16.0b", [C]);
esc(C) when C < 128 -> C;
esc(C) -> erlang:error({non_ascii_in_json_string, C}).

%%--------------------------------------------------------------------------
%% inputs

server_props() ->
    [{<<"capabilities">>, table,
      [{<<"publisher_confirms">>, bool, true},
       {<<"exchange_exchange_bindings">>, bool, true},
       {<<"basic.nack">>, bool, true},
       {<<"consumer_cancel_notify">>, bool, true},
       {<<"connection.blocked">>, bool, true},
       {<<"consumer_priorities">>, bool, true},
       {<<"authentication_failure_close">>, bool, true},
       {<<"per_consumer_qos">>, bool, true},
       {<<"direct_reply_to">>, bool, false}]},
     {<<"cluster_name">>, longstr, <<"rabbit@vectors">>},
     {<<"copyright">>, longstr, <<"Copyright (c) 2007-2022 VMware, Inc. or its affiliates.">>},
     {<<"information">>, longstr, <<"Licensed under the MPL 2.0.">>},
     {<<"platform">>, longstr, <<"Erlang/OTP 25">>},
     {<<"product">>, longstr, <<"RabbitMQ">>},
     {<<"version">>, longstr, <<"3.10.8">>}].

client_props() ->
    [{<<"product">>, longstr, <<"amqp-vectors">>},
     {<<"version">>, longstr, <<"0.1.0">>},
     {<<"capabilities">>, table,
      [{<<"authentication_failure_close">>, bool, true},
       {<<"basic.nack">>, bool, true},
       {<<"connection.blocked">>, bool, false},
       {<<"consumer_cancel_notify">>, bool, true},
       {<<"publisher_confirms">>, bool, true}]},
     {<<"connection_name">>, longstr, <<"vector \"conn\" #1">>}].

%% {Channel, MethodAtom, FieldValuesInXmlOrder, Desc}
method_specs() ->
    [
     %% connection: always channel 0
     {0, 'connection.start', [0, 9, server_props(), <<"AMQPLAIN PLAIN">>, <<"en_US">>],
      <<"connection.start as sent by RabbitMQ (0-9, capabilities table)">>},
     {0, 'connection.start', [16#fe, 16#81, [{<<"k">>, signedint, -2}], <<"EXTERNAL">>, <<"de_DE fr_FR">>],
      <<"connection.start with odd version octets">>},
     {0, 'connection.start_ok', [client_props(), <<"PLAIN">>, <<0, "guest", 0, "guest">>, <<"en_US">>],
      <<"connection.start-ok PLAIN with NUL bytes in response">>},
     {0, 'connection.secure', [<<0, 1, 2, 16#ff, 16#fe, 16#80, "challenge">>],
      <<"connection.secure with non-UTF-8 challenge">>},
     {0, 'connection.secure_ok', [<<16#c3, 16#28, "resp", 0, 16#ff>>],
      <<"connection.secure-ok with non-UTF-8 response">>},
     {0, 'connection.tune', [16#1234, 16#89abcdef, 16#fedc],
      <<"connection.tune high-byte values">>},
     {0, 'connection.tune', [2047, 131072, 60],
      <<"connection.tune RabbitMQ defaults">>},
     {0, 'connection.tune_ok', [16#abcd, 16#12345678, 16#0102],
      <<"connection.tune-ok">>},
     {0, 'connection.open', [<<"/vhost-", 16#c3, 16#a9>>, <<>>, false],
      <<"connection.open with UTF-8 vhost">>},
     {0, 'connection.open', [<<"/">>, <<>>, false],
      <<"connection.open default vhost">>},
     {0, 'connection.open_ok', [<<>>], <<"connection.open-ok">>},
     {0, 'connection.close', [16#021d, <<"CONNECTION_FORCED - broker forced connection closure with reason 'shutdown'">>, 16#1234, 16#abcd],
      <<"connection.close">>},
     {0, 'connection.close_ok', [], <<"connection.close-ok">>},
     {0, 'connection.blocked', [<<"low on memory">>], <<"connection.blocked">>},
     {0, 'connection.unblocked', [], <<"connection.unblocked">>},
     {0, 'connection.update_secret', [<<"eyJhbGciOiJSUzI1NiJ9.payload.sig", 0, 16#ff>>, <<"token refresh">>],
      <<"connection.update-secret">>},
     {0, 'connection.update_secret_ok', [], <<"connection.update-secret-ok">>},
     %% channel
     {16#1234, 'channel.open', [<<>>], <<"channel.open">>},
     {16#1234, 'channel.open_ok', [<<>>], <<"channel.open-ok">>},
     {7, 'channel.flow', [true], <<"channel.flow active=true">>},
     {7, 'channel.flow', [false], <<"channel.flow active=false">>},
     {7, 'channel.flow_ok', [true], <<"channel.flow-ok active=true">>},
     {16#fffe, 'channel.close', [16#0196, <<"PRECONDITION_FAILED - inequivalent arg 'durable'">>, 16#fedc, 16#ba98],
      <<"channel.close high-byte ids">>},
     {16#fffe, 'channel.close', [404, <<"NOT_FOUND - no queue 'q'">>, 50, 10],
      <<"channel.close realistic (queue.declare)">>},
     {16#ffff, 'channel.close_ok', [], <<"channel.close-ok on channel 65535">>},
     %% exchange
     {1, 'exchange.declare', [0, <<"ex.topic">>, <<"topic">>, false, true, false, true, true,
                              [{<<"alternate-exchange">>, longstr, <<"ae">>}]],
      <<"exchange.declare passive=0 durable=1 auto-delete=0 internal=1 no-wait=1">>},
     {1, 'exchange.declare', [0, <<"ex.all">>, <<"headers">>, true, true, true, true, true, []],
      <<"exchange.declare all five bits set, empty arguments">>},
     {2, 'exchange.declare', [0, <<"ex.none">>, <<"direct">>, false, false, false, false, false, []],
      <<"exchange.declare all bits clear">>},
     {1, 'exchange.declare_ok', [], <<"exchange.declare-ok">>},
     {16#0100, 'exchange.delete', [0, <<"ex.old">>, false, true], <<"exchange.delete if-unused=0 no-wait=1">>},
     {16#0100, 'exchange.delete_ok', [], <<"exchange.delete-ok">>},
     {16#7fff, 'exchange.bind', [0, <<"dest.ex">>, <<"src.ex">>, <<"a.*.#">>, true,
                                 [{<<"x-match">>, longstr, <<"any">>}, {<<"n">>, signedint, 16#12345678}]],
      <<"exchange.bind">>},
     {16#7fff, 'exchange.bind_ok', [], <<"exchange.bind-ok">>},
     {16#8000, 'exchange.unbind', [0, <<"dest.ex">>, <<"src.ex">>, <<"rk">>, false,
                                   [{<<"flag">>, bool, true}]],
      <<"exchange.unbind">>},
     {16#8000, 'exchange.unbind_ok', [], <<"exchange.unbind-ok (method id 51)">>},
     %% queue
     {3, 'queue.declare', [0, <<"q.orders">>, false, true, true, false, true,
                           [{<<"x-message-ttl">>, signedint, 60000},
                            {<<"x-queue-type">>, longstr, <<"classic">>},
                            {<<"x-max-priority">>, unsignedbyte, 10}]],
      <<"queue.declare passive=0 durable=1 exclusive=1 auto-delete=0 no-wait=1">>},
     {3, 'queue.declare', [0, <<>>, true, false, false, true, false, []],
      <<"queue.declare server-named, passive=1 auto-delete=1">>},
     {3, 'queue.declare_ok', [<<"amq.gen-JzTY20BRgKO-HjmUJj0wLg">>, 16#89abcdef, 16#12345678],
      <<"queue.declare-ok">>},
     {16#abcd, 'queue.bind', [0, <<"q.orders">>, <<"amq.topic">>, <<"orders.#">>, true,
                              [{<<"x-match">>, longstr, <<"all">>}]],
      <<"queue.bind">>},
     {16#abcd, 'queue.bind_ok', [], <<"queue.bind-ok">>},
     {4, 'queue.unbind', [0, <<"q.orders">>, <<"amq.topic">>, <<"orders.#">>,
                          [{<<"x-match">>, longstr, <<"all">>}]],
      <<"queue.unbind">>},
     {4, 'queue.unbind_ok', [], <<"queue.unbind-ok">>},
     {5, 'queue.purge', [0, <<"q.purge">>, true], <<"queue.purge no-wait=1">>},
     {5, 'queue.purge_ok', [16#fedcba98], <<"queue.purge-ok">>},
     {6, 'queue.delete', [0, <<"q.del">>, true, false, true], <<"queue.delete if-unused=1 if-empty=0 no-wait=1">>},
     {6, 'queue.delete_ok', [16#01020304], <<"queue.delete-ok">>},
     %% basic
     {8, 'basic.qos', [16#89abcdef, 16#1234, true], <<"basic.qos global=1">>},
     {8, 'basic.qos_ok', [], <<"basic.qos-ok">>},
     {9, 'basic.consume', [0, <<"q.orders">>, <<"ctag-1">>, true, false, true, false,
                           [{<<"x-priority">>, signedint, -5}]],
      <<"basic.consume no-local=1 no-ack=0 exclusive=1 no-wait=0">>},
     {9, 'basic.consume', [0, <<"q">>, <<>>, false, true, false, true, []],
      <<"basic.consume no-ack=1 no-wait=1, empty tag">>},
     {9, 'basic.consume_ok', [<<"amq.ctag-abc123">>], <<"basic.consume-ok">>},
     {10, 'basic.cancel', [<<"ctag-1">>, true], <<"basic.cancel no-wait=1">>},
     {10, 'basic.cancel_ok', [<<"ctag-1">>], <<"basic.cancel-ok">>},
     {11, 'basic.publish', [0, <<"amq.direct">>, <<"rk.publish">>, true, false], <<"basic.publish mandatory=1">>},
     {11, 'basic.publish', [0, <<>>, <<"q">>, false, true], <<"basic.publish immediate=1, default exchange">>},
     {12, 'basic.return', [312, <<"NO_ROUTE">>, <<"amq.direct">>, <<"rk.none">>], <<"basic.return">>},
     {13, 'basic.deliver', [<<"ctag-1">>, 16#0123456789abcdef, true, <<"amq.topic">>, <<"a.b">>],
      <<"basic.deliver redelivered=1">>},
     {14, 'basic.get', [0, <<"q.get">>, true], <<"basic.get no-ack=1">>},
     {14, 'basic.get_ok', [16#fedcba9876543210, true, <<"ex">>, <<"rk">>, 16#89abcdef],
      <<"basic.get-ok delivery-tag above 2^63">>},
     {14, 'basic.get_empty', [<<>>], <<"basic.get-empty">>},
     {15, 'basic.ack', [16#0123456789abcdef, true], <<"basic.ack multiple=1">>},
     {15, 'basic.ack', [16#ffffffffffffffff, false], <<"basic.ack max delivery-tag">>},
     {16, 'basic.reject', [16#0123456789abcdef, true], <<"basic.reject requeue=1">>},
     {17, 'basic.recover_async', [true], <<"basic.recover-async requeue=1">>},
     {17, 'basic.recover', [true], <<"basic.recover requeue=1">>},
     {17, 'basic.recover_ok', [], <<"basic.recover-ok">>},
     {18, 'basic.nack', [16#0123456789abcdef, false, true], <<"basic.nack multiple=0 requeue=1">>},
     {18, 'basic.nack', [16#89abcdef, true, false], <<"basic.nack multiple=1 requeue=0">>},
     %% confirm, tx
     {19, 'confirm.select', [true], <<"confirm.select nowait=1">>},
     {19, 'confirm.select_ok', [], <<"confirm.select-ok">>},
     {20, 'tx.select', [], <<"tx.select">>},
     {20, 'tx.select_ok', [], <<"tx.select-ok">>},
     {21, 'tx.commit', [], <<"tx.commit">>},
     {21, 'tx.commit_ok', [], <<"tx.commit-ok">>},
     {22, 'tx.rollback', [], <<"tx.rollback">>},
     {22, 'tx.rollback_ok', [], <<"tx.rollback-ok">>}
    ].

all_props() ->
    [{<<"content-type">>, <<"application/json">>},
     {<<"content-encoding">>, <<"gzip">>},
     {<<"headers">>, [{<<"x-trace">>, longstr, <<"abc">>},
                      {<<"x-retries">>, signedint, -3},
                      {<<"x-flag">>, bool, true},
                      {<<"x-nested">>, table, [{<<"n">>, long, 16#0123456789abcdef}]}]},
     {<<"delivery-mode">>, 2},
     {<<"priority">>, 9},
     {<<"correlation-id">>, <<"corr-", 16#c3, 16#a9>>},
     {<<"reply-to">>, <<"amq.rabbitmq.reply-to">>},
     {<<"expiration">>, <<"60000">>},
     {<<"message-id">>, <<"msg-0001">>},
     {<<"timestamp">>, 16#0123456789abcdef},
     {<<"type">>, <<"order.created">>},
     {<<"user-id">>, <<"guest">>},
     {<<"app-id">>, <<"vectors">>},
     {<<"reserved">>, <<"cluster-a">>}].

%% A body of > 2^32 bytes, as a list of references to one 1 MiB binary: only the
%% header frame is kept, so nothing large is ever copied.
huge_body() -> lists:duplicate(4097, binary:copy(<<16#a5>>, 1 bsl 20)) ++ [<<1, 2, 3>>].

%% {Channel, [{XmlPropName, ErlangValue}], BodyFragments, Desc}
header_specs() ->
    [{16#0101, all_props(), huge_body(), <<"all 14 properties (reserved = cluster-id), body-size > 2^32">>},
     {5, all_props(), [<<"hello">>], <<"all 14 properties, body-size 5">>},
     {2, [{<<"delivery-mode">>, 1}], [<<"0123456789">>], <<"only delivery-mode">>},
     {3, [{<<"headers">>, [{<<"a">>, longstr, <<"1">>}, {<<"b">>, signedint, 2}]}], [<<"x">>],
      <<"only headers">>},
     {4, [{<<"timestamp">>, 1700000000}, {<<"reserved">>, <<"c">>}], [<<"ab">>],
      <<"only timestamp and reserved (last property bit)">>},
     {16#4000, [{<<"content-type">>, <<"text/plain">>}, {<<"priority">>, 0}, {<<"app-id">>, <<"app">>}],
      huge_body(), <<"content-type, priority 0, app-id, body-size > 2^32">>},
     {6, [], [], <<"no properties, empty body">>}].

body(N) -> list_to_binary([(I * 7 + 3) rem 256 || I <- lists:seq(0, N - 1)]).

%% {Channel, {MethodAtom, Vals}, Props, Body, FrameMax, Desc}
content_specs() ->
    [{11, {'basic.publish', [0, <<"amq.direct">>, <<"rk">>, true, false]},
      [{<<"content-type">>, <<"text/plain">>}, {<<"delivery-mode">>, 2}],
      body(40), 24, <<"basic.publish + header + 40-byte body in 3 frames (frame_max 24)">>},
     {16#1234, {'basic.deliver', [<<"ctag-1">>, 16#0123456789abcdef, true, <<"ex">>, <<"rk">>]},
      all_props(), body(100), 40, <<"basic.deliver + all properties + 100-byte body in 4 frames (frame_max 40)">>},
     {13, {'basic.deliver', [<<"c">>, 1, false, <<>>, <<"q">>]},
      [], body(64), 40, <<"basic.deliver, body exactly 2 full frames (frame_max 40)">>},
     {14, {'basic.get_ok', [16#fedcba9876543210, false, <<"ex">>, <<"rk">>, 0]},
      [{<<"headers">>, [{<<"k">>, longstr, <<"v">>}]}], body(9000), 4096,
      <<"basic.get-ok + 9000-byte body in 3 frames (frame_max 4096)">>},
     {12, {'basic.return', [312, <<"NO_ROUTE">>, <<"ex">>, <<"rk">>]},
      [{<<"message-id">>, <<"m">>}], <<>>, 4096, <<"basic.return + header + empty body (0 body frames)">>}].

big_string() -> list_to_binary([(I * 31) rem 256 || I <- lists:seq(0, 299)]).

%% {Table, Desc}
table_specs() ->
    [{[], <<"empty table">>},
     {[{<<"yes">>, bool, true}, {<<"no">>, bool, false}], <<"t: both booleans">>},
     {[{<<"b-min">>, byte, -128}, {<<"b-max">>, byte, 127}, {<<"b-neg1">>, byte, -1}],
      <<"b: signed 8-bit">>},
     {[{<<"B-max">>, unsignedbyte, 255}, {<<"B-zero">>, unsignedbyte, 0}, {<<"B-mid">>, unsignedbyte, 128}],
      <<"B: unsigned 8-bit incl. 255">>},
     {[{<<"s-min">>, short, -32768}, {<<"s-max">>, short, 32767}, {<<"s-neg">>, short, -2}],
      <<"s: signed 16-bit (RabbitMQ 's' = short int)">>},
     {[{<<"u-max">>, unsignedshort, 65535}, {<<"u-hi">>, unsignedshort, 16#8001}],
      <<"u: unsigned 16-bit incl. 65535">>},
     {[{<<"I-min">>, signedint, -2147483648}, {<<"I-max">>, signedint, 2147483647}, {<<"I-neg">>, signedint, -19088744}],
      <<"I: signed 32-bit">>},
     {[{<<"i-max">>, unsignedint, 4294967295}, {<<"i-hi">>, unsignedint, 16#89abcdef}],
      <<"i: unsigned 32-bit incl. 4294967295">>},
     {[{<<"l-min">>, long, -9223372036854775808}, {<<"l-max">>, long, 9223372036854775807},
       {<<"l-neg">>, long, -81985529216486895}],
      <<"l: signed 64-bit">>},
     {[{<<"f-a">>, float, 1.5}, {<<"f-b">>, float, -0.25}, {<<"f-c">>, float, 16777216.0},
       {<<"f-d">>, float, 3.4028234663852886e38}],
      <<"f: 32-bit floats (exact in f32)">>},
     {[{<<"d-pi">>, double, 3.141592653589793}, {<<"d-neg">>, double, -0.1},
       {<<"d-big">>, double, 1.0e300}, {<<"d-tiny">>, double, 5.0e-324}],
      <<"d: 64-bit floats">>},
     {[{<<"D-pos">>, decimal, {2, 12345}}, {<<"D-neg">>, decimal, {3, 4294954951}},
       {<<"D-zero">>, decimal, {0, 0}}, {<<"D-max">>, decimal, {255, 4294967295}}],
      <<"D: decimals (value as unsigned wire u32; 4294954951 = -12345)">>},
     {[{<<"T-now">>, timestamp, 1700000000}, {<<"T-hi">>, timestamp, 16#fedcba9876543210}],
      <<"T: timestamps (u64)">>},
     {[{<<"S-ascii">>, longstr, <<"hello, world">>}, {<<"S-empty">>, longstr, <<>>},
       {<<"S-utf8">>, longstr, <<"caf", 16#c3, 16#a9>>},
       {<<"S-bin">>, longstr, <<16#ff, 16#fe, 0, 16#80, "abc", 16#c3, 16#28>>},
       {<<"S-long">>, longstr, big_string()}],
      <<"S: long strings incl. empty, non-UTF-8 bytes and 300 bytes">>},
     {[{<<"x-bytes">>, binary, <<0, 1, 2, 16#ff>>}, {<<"x-empty">>, binary, <<>>}],
      <<"x: byte arrays">>},
     {[{<<"nothing">>, void, undefined}], <<"V: void">>},
     {[{<<"arr">>, array, [{longstr, <<"a">>}, {signedint, -1}, {bool, true}, {bool, false},
                            {byte, -5}, {unsignedbyte, 200}, {short, -300}, {unsignedshort, 60000},
                            {unsignedint, 4000000000}, {long, -5000000000},
                            {float, 0.5}, {double, 2.5}, {decimal, {1, 5}}, {timestamp, 1234567890},
                            {binary, <<16#de, 16#ad>>}, {void, undefined},
                            {table, [{<<"k">>, longstr, <<"v">>}]},
                            {array, [{signedint, 1}, {array, []}]}]},
       {<<"empty-arr">>, array, []}],
      <<"A: array with every element type, nested arrays, empty array">>},
     {[{<<"outer">>, table, [{<<"inner">>, table, [{<<"deep">>, signedint, 42}]},
                             {<<"s">>, longstr, <<"x">>}, {<<"empty">>, table, []}]}],
      <<"F: nested tables (3 levels, incl. empty)">>},
     {[{<<"zeta">>, longstr, <<"z">>}, {<<"alpha">>, signedint, 1}, {<<"mid">>, bool, true}],
      <<"keys not in sorted order (order must be kept)">>},
     {[{<<"dup">>, signedint, 1}, {<<"other">>, bool, false}, {<<"dup">>, longstr, <<"second">>}],
      <<"duplicate key kept twice, in order">>},
     {[{<<"t">>, bool, true}, {<<"b">>, byte, -7}, {<<"B">>, unsignedbyte, 255}, {<<"s">>, short, -1000},
       {<<"u">>, unsignedshort, 65535}, {<<"I">>, signedint, -100000}, {<<"i">>, unsignedint, 4294967295},
       {<<"l">>, long, -1}, {<<"f">>, float, -1.75}, {<<"d">>, double, 2.718281828459045},
       {<<"D">>, decimal, {4, 314159}}, {<<"S">>, longstr, <<"str">>}, {<<"x">>, binary, <<1, 2, 3>>},
       {<<"A">>, array, [{signedint, 7}, {longstr, <<"s">>}]}, {<<"T">>, timestamp, 1},
       {<<"F">>, table, [{<<"n">>, void, undefined}]}, {<<"V">>, void, undefined}],
      <<"every tag RabbitMQ writes, in one table">>}].
