from bench.machine import describe_machine


def test_describe_machine_names_the_cpu_and_its_extensions(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nmodel name\t: Test CPU 9000\nflags\t\t: fpu sse2 avx2 "
                    "avx512f avx512_vnni amx_tile\n\nprocessor\t: 1\nmodel name\t: Test CPU 9000\n")
    line = describe_machine(info)
    assert line.startswith("machine: Test CPU 9000, ")
    assert "avx2, avx512f, avx512_vnni, amx_tile" in line
    assert "amx_bf16" not in line
    avx2_only = tmp_path / "avx2"
    avx2_only.write_text("model name\t: Old CPU\nflags\t\t: sse2 avx2\n")
    assert "avx2;" in describe_machine(avx2_only) and "avx512f" not in describe_machine(avx2_only)


def test_int8_dot_products_are_vnni_or_amx(tmp_path):
    from model.machine import cpu_flags, has_int8_dot

    info = tmp_path / "cpuinfo"
    info.write_text("model name\t: X\nflags\t\t: fpu avx2 avx512f\n")
    assert cpu_flags(info) == {"fpu", "avx2", "avx512f"}
    assert not has_int8_dot(cpu_flags(info))
    for flag in ("avx512_vnni", "avx_vnni", "amx_int8"):
        assert has_int8_dot({"avx2", flag})
    assert cpu_flags(tmp_path / "missing") == set()
